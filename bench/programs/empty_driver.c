/* empty: the start-up baseline of bench/run.sh, every tool on a program that does nothing. */
int main(void)
{
    return 0;
}
