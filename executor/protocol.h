/* The jitld executor protocol: the numbers both sides agree on.
 *
 * docs/executor-protocol.md describes the messages; src/executor/protocol.rs holds the
 * same numbers for the JIT side, and a test checks that the two agree.
 *
 * Every message is a 16-byte header followed by a body, all integers little-endian:
 *   u32 body_len, u32 op, u64 id
 */
#ifndef JITLD_EXECUTOR_PROTOCOL_H
#define JITLD_EXECUTOR_PROTOCOL_H

#define JITLD_PROTOCOL_MAGIC "jitldexe" /* 8 bytes, first in the hello body */
#define JITLD_PROTOCOL_VERSION 2
#define JITLD_HEADER_SIZE 16
/* Larger messages are refused; the JIT splits big writes and reads into chunks. */
#define JITLD_MAX_BODY (64u << 20)

/* Messages the executor sends on its own. */
#define JITLD_OP_HELLO 1
#define JITLD_OP_LAZY_RESOLVE 2
#define JITLD_OP_CRASHED 3
#define JITLD_OP_EXITED 4

/* Requests from the JIT. */
#define JITLD_OP_RESERVE 16
#define JITLD_OP_WRITE 17
#define JITLD_OP_READ 18
#define JITLD_OP_PROTECT 19
#define JITLD_OP_RELEASE 20
#define JITLD_OP_LOOKUP 21
#define JITLD_OP_DLOPEN 22
#define JITLD_OP_DLCLOSE 23
#define JITLD_OP_LOAD_OBJECT 24
#define JITLD_OP_THREAD_POINTER 25
#define JITLD_OP_CALL 26
#define JITLD_OP_RUN_MAIN 27
#define JITLD_OP_INTERPOSE 28
#define JITLD_OP_EXIT 29

/* Replies, in either direction; the id is the request's. */
#define JITLD_OP_OK 64
#define JITLD_OP_ERROR 65

#define JITLD_HELLO_SHARED_MEMORY 1u

#define JITLD_RESERVE_LOW 1u
#define JITLD_RESERVE_SHARED 2u
#define JITLD_NO_OFFSET 0xffffffffffffffffull

#define JITLD_PROT_READ 1u
#define JITLD_PROT_WRITE 2u
#define JITLD_PROT_EXEC 4u

#define JITLD_DLOPEN_NOW 1u
#define JITLD_DLOPEN_GLOBAL 2u

#define JITLD_SYMBOL_FOUND 1u
#define JITLD_SYMBOL_FUNCTION 2u
#define JITLD_SYMBOL_DATA 4u

#define JITLD_RUN_MAIN_ENVIRONMENT 1u

#define JITLD_MAX_CALL_ARGS 6

/* tls_index module id of jitld's static TLS pairs (linker/src/tls.rs STATIC_TLS_MODULE). */
#define JITLD_STATIC_TLS_MODULE 0x6a69746c64544c53ull

/* The executor's own exit status when the protocol fails (malformed input, lost peer). */
#define JITLD_EXIT_PROTOCOL_ERROR 125

#endif
