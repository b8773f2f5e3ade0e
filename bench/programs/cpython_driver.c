/* cpython: embeds CPython 3.11 from the static libpython3.11.a. Initializes an
 * isolated interpreter (no environment variables, no user site directory, a
 * fixed hash seed so set and dict orders are reproducible), runs a script that
 * uses the interpreter core and built-in or pure-Python standard modules only
 * (json, re, collections, hashlib's built-in SHA-256, struct, itertools,
 * math, textwrap; no extension module from lib-dynload, which would need
 * libpython's symbols exported from the executable), calls a C function
 * exported to Python from this driver, reads a result back through the C API,
 * and finalizes. Exit status: the script's result mod 100 (never 0), or 1
 * when the interpreter reports an error. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>

/* driver.mix(a, b): a C function the script calls back. */
static PyObject *driver_mix(PyObject *self, PyObject *args)
{
    (void)self;
    long long a, b;
    if (!PyArg_ParseTuple(args, "LL", &a, &b))
        return NULL;
    unsigned long long h = (unsigned long long)a * 0x9e3779b97f4a7c15ull ^ (unsigned long long)b;
    h ^= h >> 29;
    return PyLong_FromUnsignedLongLong(h & 0xffffffffull);
}

static PyMethodDef driver_methods[] = {
    {"mix", driver_mix, METH_VARARGS, "Mixes two integers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef driver_module = {PyModuleDef_HEAD_INIT, "driver", NULL, -1, driver_methods};

static PyObject *init_driver(void)
{
    return PyModule_Create(&driver_module);
}

static const char SCRIPT[] =
    "import collections, hashlib, itertools, json, math, re, struct, sys, textwrap\n"
    "import driver\n"
    "def primes(n):\n"
    "    sieve = bytearray([1]) * (n + 1)\n"
    "    sieve[0:2] = b'\\x00\\x00'\n"
    "    for i in range(2, int(n ** 0.5) + 1):\n"
    "        if sieve[i]:\n"
    "            sieve[i * i::i] = bytearray(len(sieve[i * i::i]))\n"
    "    return [i for i, p in enumerate(sieve) if p]\n"
    "ps = primes(20000)\n"
    "print('primes below 20000:', len(ps), 'last', ps[-3:])\n"
    "text = ('the jit linker links objects in memory and runs them; '\n"
    "        'a native link writes an executable first, then the loader maps it') * 3\n"
    "words = re.findall(r'[a-z]+', text)\n"
    "common = collections.Counter(words).most_common(4)\n"
    "print('most common:', common)\n"
    "doc = {'name': 'jitld', 'objects': [{'id': i, 'sym': 'f%d_entry' % i, 'size': i * 37 % 101}\n"
    "                                    for i in range(40)], 'ok': True, 'ratio': 0.1}\n"
    "s = json.dumps(doc, sort_keys=True)\n"
    "back = json.loads(s)\n"
    "print('json:', len(s), 'bytes; round trip', back == doc, '; size sum', sum(o['size'] for o in back['objects']))\n"
    "print('sha256:', hashlib.sha256(s.encode()).hexdigest())\n"
    "packed = struct.pack('<5Iq', *ps[:5], -12345678901)\n"
    "print('struct:', packed.hex())\n"
    "num, den = 0, 1\n"
    "for k in range(1, 30):\n"
    "    num, den = num * k + den, den * k\n"
    "    g = math.gcd(num, den)\n"
    "    num, den = num // g, den // g\n"
    "print('H(29) = %d/%d' % (num, den))\n"
    "combos = sum(1 for c in itertools.combinations(range(16), 5) if sum(c) % 7 == 0)\n"
    "print('combinations:', combos)\n"
    "m = 0\n"
    "for i in range(1, 2000):\n"
    "    m = driver.mix(m, i)\n"
    "print('driver.mix chain:', m)\n"
    "class Node:\n"
    "    __slots__ = ('key', 'left', 'right')\n"
    "    def __init__(self, key):\n"
    "        self.key, self.left, self.right = key, None, None\n"
    "def insert(root, key):\n"
    "    if root is None:\n"
    "        return Node(key)\n"
    "    if key < root.key:\n"
    "        root.left = insert(root.left, key)\n"
    "    else:\n"
    "        root.right = insert(root.right, key)\n"
    "    return root\n"
    "def depth(n):\n"
    "    return 0 if n is None else 1 + max(depth(n.left), depth(n.right))\n"
    "root = None\n"
    "for k in ps[:3000:3]:\n"
    "    root = insert(root, (k * 7919) % 10007)\n"
    "print('tree depth:', depth(root))\n"
    "try:\n"
    "    {}['missing']\n"
    "except KeyError as e:\n"
    "    print('caught KeyError', e)\n"
    "print(textwrap.fill(' '.join(sorted(set(words))), width=60))\n"
    "result = (len(ps) + combos + depth(root)) % 100 or 1\n";

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (PyImport_AppendInittab("driver", init_driver) < 0) {
        printf("cannot register the driver module\n");
        return 1;
    }
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.use_hash_seed = 1;
    config.hash_seed = 0;
    PyStatus status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        printf("Py_InitializeFromConfig failed: %s\n", status.err_msg ? status.err_msg : "?");
        return 1;
    }
    printf("embedded Python %d.%d\n", PY_MAJOR_VERSION, PY_MINOR_VERSION);
    fflush(stdout);

    PyObject *main_module = PyImport_AddModule("__main__");
    PyObject *globals = main_module ? PyModule_GetDict(main_module) : NULL;
    PyObject *r = globals ? PyRun_String(SCRIPT, Py_file_input, globals, globals) : NULL;
    long result = -1;
    if (r) {
        Py_DECREF(r);
        PyObject *v = PyDict_GetItemString(globals, "result");
        result = v ? PyLong_AsLong(v) : -1;
    } else {
        PyErr_Print();
    }
    /* Python's print() writes to sys.stdout's own buffer; flush it before C's stdio. */
    PyRun_SimpleString("import sys; sys.stdout.flush()");
    if (Py_FinalizeEx() < 0)
        return 1;
    printf("result %ld\n", result);
    return result < 0 ? 1 : (int)result;
}
