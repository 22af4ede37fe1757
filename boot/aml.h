/* boot/aml.h: a small AML byte-code builder for the DSDT (private to boot/: acpi.c and its tests). */
#ifndef AML_H
#define AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* AML opcodes and resource descriptor tags used by acpi.c (ACPI 6.x, sections 19-20). */
enum {
	AML_ZERO = 0x00, AML_ONE = 0x01, AML_NAME = 0x08, AML_SCOPE = 0x10,
	AML_BUFFER = 0x11, AML_PACKAGE = 0x12, AML_METHOD = 0x14,
	AML_LOCAL0 = 0x60, AML_ARG0 = 0x68, AML_ARG1 = 0x69, AML_ARG2 = 0x6A, AML_ARG3 = 0x6B,
	AML_OR = 0x7D, AML_NOTIFY = 0x86, AML_CREATE_DWORD_FIELD = 0x8A, AML_LNOT = 0x92, AML_LEQUAL = 0x93,
	AML_IF = 0xA0, AML_ELSE = 0xA1, AML_RETURN = 0xA4, AML_ONES = 0xFF,
};

/*
 * The builder writes into a caller-owned buffer. Any error (overflow, bad
 * name, unbalanced open/close) sets `bad` and later calls do nothing, so a
 * sequence of calls is checked once with aml_done().
 */
#define AML_MAX_DEPTH 16
struct aml {
	uint8_t *buf;
	size_t len, cap;
	size_t open[AML_MAX_DEPTH];  /* offsets of reserved PkgLength fields */
	int depth;
	bool bad;
};

/* Start building into buf[0..cap). */
void aml_init(struct aml *a, uint8_t *buf, size_t cap);
/* True when every call succeeded and every open term was closed. */
bool aml_done(const struct aml *a);

/* Raw bytes and little-endian words (resource descriptors, opcodes). */
void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_le(struct aml *a, uint64_t v, unsigned nbytes);

/* NameString: "\\_SB.PCI0", "^FOO", "COM1"; segments shorter than 4 are padded with '_'. */
void aml_namestring(struct aml *a, const char *path);
/* Integer with the shortest encoding (Zero, One, Ones, Byte/Word/DWord/QWordPrefix). */
void aml_int(struct aml *a, uint64_t v);
/* String literal (printable ASCII only). */
void aml_string(struct aml *a, const char *s);
/* EISAID("PNP0A08") as a DWord integer; the id must be 3 capitals and 4 hex digits. */
void aml_eisaid(struct aml *a, const char *id);
/* ToUUID("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx") as a 16-byte Buffer. */
void aml_uuid(struct aml *a, const char *uuid);
/* Buffer(n) { bytes }. */
void aml_buffer(struct aml *a, const void *p, size_t n);
/* Name(path, <caller emits the value next>). */
void aml_name(struct aml *a, const char *path);

/*
 * Terms with a PkgLength: each opens a scope that aml_close() ends. The
 * Package count and Method flags are emitted here; If's predicate and the
 * bodies are emitted by the caller before aml_close().
 */
void aml_scope(struct aml *a, const char *path);
void aml_device(struct aml *a, const char *path);
void aml_method(struct aml *a, const char *name, unsigned nargs, bool serialized);
void aml_package(struct aml *a, unsigned nelems);
void aml_if(struct aml *a);
void aml_else(struct aml *a);
void aml_close(struct aml *a);

/* Resource descriptors, appended to a separate struct aml used as a template buffer. */
void aml_res_io(struct aml *r, uint16_t base, uint8_t len);
void aml_res_irq(struct aml *r, unsigned irq);                 /* IRQNoFlags: edge, active high */
void aml_res_mem32_fixed(struct aml *r, uint32_t base, uint32_t len);
/* Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi }: any GSI, not just ISA IRQs. */
void aml_res_gsi_edge(struct aml *r, uint32_t gsi);
void aml_res_bus_range(struct aml *r, uint16_t min, uint16_t max);   /* WordBusNumber producer */
void aml_res_io_window(struct aml *r, uint16_t min, uint16_t max);   /* WordIO producer */
void aml_res_mem32_window(struct aml *r, uint32_t min, uint32_t max); /* DWordMemory producer */
/* Emit ResourceTemplate() { r's descriptors, EndTag } as a Buffer into a. */
void aml_restemplate(struct aml *a, struct aml *r);

#endif
