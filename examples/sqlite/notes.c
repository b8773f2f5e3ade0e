/* The bundled example: an ordinary C program that uses SQLite, linked in memory against the
 * system's static libsqlite3.a and run by jitld, no executable written. */
#include <sqlite3.h>
#include <stdio.h>

static int print_row(void *unused, int columns, char **values, char **names) {
    (void)unused;
    for (int i = 0; i < columns; i++)
        printf("%s%s=%s", i ? "  " : "", names[i], values[i] ? values[i] : "NULL");
    printf("\n");
    return 0;
}

int main(int argc, char **argv) {
    sqlite3 *db;
    char *error = NULL;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 2;
    const char *script =
        "CREATE TABLE notes(id INTEGER PRIMARY KEY, title TEXT, words INTEGER);"
        "INSERT INTO notes(title, words) VALUES ('linkers', 1200), ('loaders', 800), ('jits', 1500);"
        "SELECT title, words FROM notes ORDER BY words DESC;"
        "SELECT count(*) AS notes, sum(words) AS words FROM notes;"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10)"
        "  SELECT sum(i) AS one_to_ten FROM n;";
    if (sqlite3_exec(db, script, print_row, NULL, &error) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s\n", error);
        return 1;
    }
    printf("sqlite %s, %d argument(s)\n", sqlite3_libversion(), argc - 1);
    for (int i = 1; i < argc; i++) printf("  %s\n", argv[i]);
    sqlite3_close(db);
    return 0;
}
