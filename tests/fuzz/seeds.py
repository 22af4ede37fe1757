#!/usr/bin/env python3
# tests/fuzz/seeds.py: writes the small seed inputs in tests/fuzz/corpus/<harness>/ (run it again after changing an input format).
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def seed(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def le16(v): return struct.pack("<H", v)
def le32(v): return struct.pack("<I", v)
def le64(v): return struct.pack("<Q", v)
def desc(addr, length, flags=0, nxt=0): return struct.pack("<QIHH", addr, length, flags, nxt)
def avail_n(heads, size, flags=0):
    ring = list(heads) + [0] * (size - len(heads))
    return le16(flags) + le16(len(heads)) + b"".join(le16(r) for r in ring) + le16(0)


NEXT, WRITE, INDIRECT = 1, 2, 4

# ---- boot: a bzImage header (protocol 2.15), an ELF64, ELF64/ELF32 with the PVH note, multiboot ELF32 and a.out ----
b = bytearray(5 * 512 + 512)
b[0x1f1] = 4
b[0x1f4:0x1f8] = le32(512 // 16)
b[0x1fe:0x200] = le16(0xAA55)
b[0x200:0x202] = b"\xeb\x6a"
b[0x202:0x206] = b"HdrS"
b[0x206:0x208] = le16(0x020f)
b[0x211] = 1
b[0x22c:0x230] = le32(0x7fffffff)
b[0x230:0x234] = le32(0x200000)
b[0x234] = 1
b[0x236:0x238] = le16(0x7f)
b[0x238:0x23c] = le32(255)
b[0x258:0x260] = le64(0x1000000)
b[0x260:0x264] = le32(0x400000)
seed("boot", "bzimage", bytes(b))          # even length: no initrd
seed("boot", "bzimage-initrd", bytes(b) + b"\0")


def elf(pvh):
    phnum = 2 if pvh else 1
    eh = (b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x100010, 64, 0, 0,
                                                          64, 56, phnum, 0, 0, 0))
    ph = struct.pack("<IIQQQQQQ", 1, 5, 0x200, 0x100000, 0x100000, 0x40, 0x1000, 0x1000)
    note = b""
    if pvh:
        ph += struct.pack("<IIQQQQQQ", 4, 4, 0x180, 0, 0, 20, 20, 4)
        note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + le32(0x100020)
    img = bytearray(0x240)
    img[:len(eh + ph)] = eh + ph
    img[0x180:0x180 + len(note)] = note
    img[0x200:0x240] = bytes((i * 7 + 1) & 0xff for i in range(0x40))
    return bytes(img)


seed("boot", "elf64", elf(False))
seed("boot", "elf64-pvh", elf(True))


# ELF32 (EM_386): with the PVH note, or with a multiboot header (flags 3) at the start of its segment.
def elf32(pvh):
    phnum = 2 if pvh else 1
    eh = b"\x7fELF\x01\x01\x01" + b"\0" * 9 + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0x100010, 52, 0, 0,
                                                           52, 32, phnum, 0, 0, 0)
    ph = struct.pack("<IIIIIIII", 1, 0x200, 0x100000, 0x100000, 0x40, 0x1000, 5, 0x1000)
    note = b""
    if pvh:
        ph += struct.pack("<IIIIIIII", 4, 0x180, 0, 0, 20, 20, 4, 4)
        note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + le32(0x100020)
    img = bytearray(0x240)
    img[:len(eh + ph)] = eh + ph
    img[0x180:0x180 + len(note)] = note
    img[0x200:0x240] = bytes((i * 7 + 1) & 0xff for i in range(0x40))
    if not pvh:
        img[0x200:0x20c] = le32(0x1BADB002) + le32(3) + le32((-(0x1BADB002 + 3)) & 0xffffffff)
    return bytes(img)


seed("boot", "elf32-pvh", elf32(True))
seed("boot", "elf32-multiboot", elf32(False) + b"\0")   # odd length: an initrd (module 0)
# A flat multiboot a.out-kludge image: header at 0, loaded at 1 MiB, 0x100 bytes, bss to 0x101000.
mb = le32(0x1BADB002) + le32(0x10003) + le32((-(0x1BADB002 + 0x10003)) & 0xffffffff)
mb += le32(0x100000) + le32(0x100000) + le32(0x100100) + le32(0x101000) + le32(0x100020)
seed("boot", "multiboot-aout", mb + bytes(0x100 - len(mb)) + b"\0\0")   # length % 8 == 2: one --module

# ---- virtq: 4 config bytes (size log2, avail/used offsets, flags), avail ring, descriptors, RAM at 0x3000 ----
seed("virtq", "two-desc-chain", bytes([2, 0, 0, 0]) + avail_n([0], 4) +
     desc(0x3000, 16, NEXT, 1) + desc(0x3100, 32, WRITE) + desc(0, 0) + desc(0, 0))
seed("virtq", "indirect", bytes([2, 0, 0, 3]) + avail_n([0, 1], 4) +
     desc(0x3000, 32, INDIRECT) + desc(0x3200, 8, WRITE) + desc(0, 0) + desc(0, 0) +
     desc(0x3400, 16, NEXT, 1) + desc(0x3500, 64, WRITE))
seed("virtq", "event-idx-wrap", bytes([3, 2, 4, 0xFE]) + avail_n([1, 0], 8) +
     desc(0x3000, 512, WRITE) + desc(0x3300, 4, 0) + b"\0" * 96)

# ---- virtio_blk: op count + 8-byte register ops, avail ring (16), descriptors (16), RAM at 0x4000 ----
def blk(hdr_type, sector, data_len, data_flags, extra_ops=b""):
    nops = len(extra_ops) // 8
    a = avail_n([0], 16)
    ds = desc(0x4000, 16, NEXT, 1) + desc(0x5000, data_len, data_flags | NEXT, 2) + desc(0x6000, 1, WRITE)
    ds += desc(0, 0) * 13
    ram = struct.pack("<IIQ", hdr_type, 0, sector) + b"\0" * (0x1000 - 16) + bytes(range(256)) * 2
    return bytes([nops]) + extra_ops + a + ds + ram


seed("virtio_blk", "read", blk(0, 0, 512, WRITE))
seed("virtio_blk", "write", blk(1, 8, 512, 0))
seed("virtio_blk", "get-id", blk(8, 0, 20, WRITE))
seed("virtio_blk", "flush-after-config-read", blk(4, 0, 0, 0, struct.pack("<HB5s", 0x2000, 1 << 2 | 2, b"")))

# ---- pci: 12-byte ops: ctl (kind | size log2 << 3 | write 0x20 | device 0x40), 24-bit offset, 64-bit value ----
def pci(kind, size, write, dev, off, val=0):
    sl = {1: 0, 2: 1, 4: 2, 8: 3}[size]
    return bytes([kind | sl << 3 | (0x20 if write else 0) | (0x40 if dev else 0)]) + struct.pack("<I", off)[:3] + le64(val)


CF8, ECAM, BAR, MMIO, CFGX, NOTIFY, PROCESS, CONFIG = range(8)
ecam = lambda slot, reg: slot << 15 | reg
seed("pci", "ecam-probe", pci(ECAM, 4, 0, 0, ecam(0, 0)) + pci(ECAM, 4, 0, 0, ecam(1, 0)) +
     pci(ECAM, 1, 0, 0, ecam(1, 0x34)) + pci(ECAM, 4, 0, 0, ecam(1, 0x40)) + pci(ECAM, 2, 0, 0, ecam(31, 0)))
seed("pci", "cf8-bar-sizing", pci(CFGX, 4, 1, 0, 1 << 11 | 0x10, 0xFFFFFFFF) + pci(CFGX, 4, 0, 0, 1 << 11 | 0x10) +
     pci(CFGX, 4, 1, 0, 1 << 11 | 0x14, 0xFFFFFFFF) + pci(CFGX, 4, 0, 0, 1 << 11 | 0x14) +
     pci(CFGX, 4, 1, 0, 1 << 11 | 0x10, 0xC0100004) + pci(CFGX, 4, 1, 0, 1 << 11 | 0x14, 0) +
     pci(CFGX, 2, 1, 0, 1 << 11 | 0x04, 6) + pci(MMIO, 4, 0, 0, 0x100000) +
     pci(CF8, 4, 1, 0, 0, 0x80000800) + pci(CF8, 2, 0, 0, 6) + pci(CF8, 1, 1, 0, 1, 4))
seed("pci", "msix", pci(ECAM, 2, 1, 0, ecam(1, 4), 6) + pci(ECAM, 2, 1, 0, ecam(1, 0x42), 0x8000) +
     pci(BAR, 4, 1, 0, 0x4000, 0xFEE00000) + pci(BAR, 4, 1, 0, 0x4008, 0x31) + pci(BAR, 4, 1, 0, 0x400C, 0) +
     pci(BAR, 8, 0, 0, 0x4000) + pci(NOTIFY, 1, 0, 0, 1) + pci(BAR, 8, 0, 0, 0x5000) +
     pci(BAR, 4, 1, 0, 0x400C, 1) + pci(NOTIFY, 1, 0, 0, 0) + pci(BAR, 4, 0, 0, 0x5000) +
     pci(ECAM, 2, 1, 0, ecam(1, 0x42), 0xC000) + pci(BAR, 4, 1, 0, 0x400C, 0) + pci(CONFIG, 1, 0, 0, 0))
seed("pci", "virtio-window", pci(ECAM, 2, 1, 1, ecam(2, 4), 2) + pci(ECAM, 1, 0, 1, ecam(2, 0x34)) +
     pci(BAR, 1, 1, 1, 0x14, 1) + pci(BAR, 4, 0, 1, 0x00) + pci(BAR, 2, 1, 1, 0x16, 2) + pci(BAR, 2, 0, 1, 0x18) +
     pci(BAR, 2, 1, 1, 0x3008, 2) + pci(PROCESS, 1, 0, 1, 2) + pci(BAR, 1, 0, 1, 0x1000))

# ---- ioapic: 6-byte ops: kind, argument, 32-bit value ----
def io(kind, arg, val=0): return bytes([kind, arg]) + le32(val)


W, R, ANY, EOIREG, IRQ, IRQ2, EOI, PULSE = range(8)
seed("ioapic", "edge-pin4", io(R, 1) + io(W, 0x18, 0x30) + io(W, 0x19, 0x01000000) + io(PULSE, 4) +
     io(W, 0x18, 0x10030) + io(PULSE, 4) + io(W, 0x18, 0x30) + io(R, 0x18))
seed("ioapic", "level-pin16-eoi", io(W, 0x30, 0xA041) + io(IRQ, 16, 0) + io(R, 0x30) + io(EOI, 0x41) +
     io(IRQ, 16, 1) + io(EOIREG, 0x41) + io(W, 0x30, 0x8041) + io(IRQ, 16, 1) + io(IRQ, 16, 0) + io(EOI, 0x41))
seed("ioapic", "odd-accesses", io(ANY | 0x08, 0x00, 0x12) + io(ANY | 0x28, 0x10, 1) + io(ANY | 0x38, 0x40, 2) +
     io(W, 0x00, 0x0F000000) + io(R, 0x00) + io(R, 0x02) + io(R, 0x03) + io(W, 0x18, 0x300) + io(PULSE, 4))

# ---- uart: 3-byte ops: ctl (bits 0-2 port, 3-4 size log2, 5-7 kind), two value bytes ----
def uw(port, v): return bytes([0x40 | port]) + le16(v)      # kind 2, bit 6: byte write
def ur(port): return bytes([port]) + le16(0)                 # kind 0: byte read
def urx(data): return bytes([5 << 5, len(data)]) + b"\0" + data


seed("uart", "linux-probe", uw(3, 0x80) + uw(0, 1) + uw(1, 0) + uw(3, 3) + uw(2, 0xC7) + ur(2) + uw(4, 0x1F) +
     ur(6) + uw(4, 0x0B) + uw(1, 0x0F) + ur(2) + ur(5) + urx(b"hello") + ur(2) + ur(0) + ur(0) + ur(5))
seed("uart", "loopback-overrun", uw(4, 0x10) + b"".join(uw(0, c) for c in b"0123456789abcdefgh") + ur(5) +
     uw(1, 0x05) + ur(2) + uw(4, 0x08) + bytes([6 << 5, 0, 0]) + urx(b"x" * 20) + ur(5))
seed("uart", "wide-and-output", bytes([3 << 5 | 2 << 3 | 0x80 | 0]) + le16(0x4141) + bytes([7 << 5, 40, 0]) +
     bytes([3 << 5 | 1 << 3 | 4]) + le16(0) + uw(2, 0) + urx(b"ab") + ur(0))

# ---- virtio_net: features, rx/tx size log2, flags, frames, rx avail, rx desc, tx avail, tx desc, RAM at 0x8000 ----
MRG, CSUM, GCSUM, MAC, TSO4 = 1 << 15, 1 << 0, 1 << 1, 1 << 5, 1 << 7
EIDX, INDIR = 1 << 29, 1 << 28
DATA = 0x8000


def net(features, flags, frames, rx_chains, tx_chains, ram=b""):
    rxs = txs = 4
    out = le64(features) + bytes([2, 2, (flags & ~3) | len(frames)])
    for fr in frames:
        out += le16(len(fr)) + fr
    rxd = b"".join(rx_chains[i] if i < len(rx_chains) else desc(0, 0) for i in range(rxs))
    txd = b"".join(tx_chains[i] if i < len(tx_chains) else desc(0, 0) for i in range(txs))
    out += avail_n(range(len(rx_chains)), rxs) + rxd + avail_n(range(len(tx_chains)), txs) + txd
    return out + ram


eth = bytes([0x52, 0x54, 0, 0x12, 0x34, 0x56]) * 2 + b"\x08\x00" + bytes(range(46))
vhdr = b"\0" * 12
tx_ram = vhdr + eth
seed("virtio_net", "rx-one-frame", net(MRG, 8, [vhdr + eth],
     [desc(DATA + 0x1000, 2048, WRITE), desc(DATA + 0x2000, 2048, WRITE)], []))
seed("virtio_net", "tx-one-frame", net(CSUM | MAC, 4, [],
     [], [desc(DATA, 12, NEXT, 1), desc(DATA + 12, len(eth))], tx_ram))
seed("virtio_net", "rx-csum-gso-reset", net(MRG | GCSUM | TSO4 | EIDX | INDIR, 8 | 16,
     [bytes([1, 1, 0, 0, 0x36, 0x05, 34, 0, 16, 0, 0, 0]) + eth, vhdr + eth],
     [desc(DATA + 0x1000, 1526, WRITE), desc(DATA + 0x10000, 0x12000, WRITE)],   # GSO: 64 KiB and more held
     [desc(DATA, 12 + len(eth))], tx_ram))

# ---- options: argv split at NUL bytes ----
for name, args in [("run", ["-k", "bzImage", "-m", "1G", "-c", "2"]),
                   ("everything", ["--kernel", "k", "--initrd", "i", "--append", "console=ttyS0", "--memory", "512Mi",
                                   "--cpus", "4", "--disk", "a.img,ro,serial=x", "--net", "tap=tap0,mac=52:54:00:00:00:01",
                                   "--console", "none", "--timeout", "60", "--debug-exit", "--stats", "--no-sandbox",
                                   "-vv"]),
                   ("help", ["--help"]), ("version", ["-V"]), ("print-sandbox", ["--print-sandbox"]),
                   ("unaligned-memory", ["--memory", "16777217", "-k", "x"]),
                   ("selftest", ["--sandbox-selftest", "net:open", "-k", "x"]),
                   ("bad", ["--bogus", "-k"]), ("missing-arg", ["-k", "x", "--cpus"])]:
    seed("options", name, b"\0".join(a.encode() for a in args))

# ---- fuse: records [flags][le16 length][fuse_in_header + arguments] (tests/fuzz/fuzz_fuse.c) ----
FUSE_LOOKUP, FUSE_FORGET, FUSE_GETATTR, FUSE_SETATTR, FUSE_READLINK, FUSE_SYMLINK = 1, 2, 3, 4, 5, 6
FUSE_MKNOD, FUSE_MKDIR, FUSE_UNLINK, FUSE_RMDIR, FUSE_RENAME, FUSE_LINK, FUSE_OPEN = 8, 9, 10, 11, 12, 13, 14
FUSE_READ, FUSE_WRITE, FUSE_STATFS, FUSE_RELEASE, FUSE_FSYNC = 15, 16, 17, 18, 20
FUSE_SETXATTR, FUSE_GETXATTR, FUSE_LISTXATTR, FUSE_REMOVEXATTR, FUSE_FLUSH, FUSE_INIT = 21, 22, 23, 24, 25, 26
FUSE_OPENDIR, FUSE_READDIR, FUSE_RELEASEDIR, FUSE_ACCESS, FUSE_CREATE = 27, 28, 29, 34, 35
FUSE_BATCH_FORGET, FUSE_FALLOCATE, FUSE_READDIRPLUS, FUSE_RENAME2, FUSE_LSEEK = 42, 43, 44, 45, 46
RO, ROOM4K, SUB, FIXLEN = 0x01, 5 << 3, 0x40, 0x80
def frec(flags, op, nodeid, args=b"", unique=1):
    h = struct.pack("<IIQQIIIHH", 40 + len(args), op, unique, nodeid, 0, 0, 0, 0, 0)
    return bytes([flags]) + le16(40 + len(args)) + h + args
def rd(fh_index, off, size): return bytes([fh_index]) + b"\0" * 7 + le64(off) + le32(size) + le32(0) + le64(0) + le32(0) + le32(0)
F = ROOM4K | FIXLEN
seed("fuse", "init", frec(F, FUSE_INIT, 0, le32(7) + le32(38) + le32(65536) + le32(0xffffffff) + b"\0" * 48))
seed("fuse", "lookup-read", frec(F, FUSE_LOOKUP, 1, b"a\0") + frec(F | SUB, FUSE_OPEN, 1, le32(0) + le32(0))
     + frec(F | SUB, FUSE_READ, 1, rd(0, 0, 4096)) + frec(F | SUB, FUSE_RELEASE, 1, b"\0" * 24)
     + frec(F | SUB, FUSE_GETATTR, 1, b"\0" * 16) + frec(F | SUB, FUSE_FORGET, 1, le64(1)))
seed("fuse", "create-write", frec(F, FUSE_CREATE, 1, le32(0o102) + le32(0o100644) + le32(0) + le32(0) + b"new\0")
     + frec(F | SUB, FUSE_WRITE, 1, rd(0, 0, 5) + b"hello") + frec(F | SUB, FUSE_FSYNC, 1, b"\0" * 16)
     + frec(F | SUB, FUSE_SETATTR, 1, le32(8) + b"\0" * 84) + frec(F, FUSE_UNLINK, 1, b"new\0"))
seed("fuse", "dirs", frec(F, FUSE_MKDIR, 1, le32(0o755) + le32(0) + b"m\0") + frec(F, FUSE_RENAME, 1, le64(1) + b"m\0n\0")
     + frec(F, FUSE_RENAME2, 1, le64(1) + le32(1) + le32(0) + b"n\0a\0") + frec(F, FUSE_RMDIR, 1, b"n\0"))
seed("fuse", "readdirplus", frec(F | SUB, FUSE_OPENDIR, 4, le32(0) + le32(0)) + frec(F | SUB, FUSE_READDIRPLUS, 4, rd(0, 0, 4096))
     + frec(F | SUB, FUSE_READDIR, 4, rd(0, 0, 64)) + frec(F | SUB, FUSE_RELEASEDIR, 4, b"\0" * 24))
seed("fuse", "symlink", frec(F, FUSE_SYMLINK, 1, b"s\0/etc/passwd\0") + frec(F | SUB, FUSE_READLINK, 1)
     + frec(F | SUB, FUSE_OPEN, 1, le32(0) + le32(0)) + frec(F, FUSE_LOOKUP, 1, b"l\0") + frec(F | SUB, FUSE_LOOKUP, 2, b"passwd\0"))
seed("fuse", "ro", frec(F | RO, FUSE_LOOKUP, 1, b"a\0") + frec(F | RO | SUB, FUSE_OPEN, 1, le32(2) + le32(0))
     + frec(F | RO, FUSE_MKDIR, 1, le32(0o755) + le32(0) + b"m\0") + frec(F | RO, FUSE_STATFS, 1))
seed("fuse", "xattr", frec(F, FUSE_LOOKUP, 1, b"a\0") + frec(F | SUB, FUSE_SETXATTR, 1, le32(1) + le32(0) + b"user.x\0v")
     + frec(F | SUB, FUSE_GETXATTR, 1, le32(64) + le32(0) + b"user.x\0") + frec(F | SUB, FUSE_LISTXATTR, 1, le32(0) + le32(0))
     + frec(F | SUB, FUSE_REMOVEXATTR, 1, b"user.x\0"))
seed("fuse", "escapes", frec(F, FUSE_LOOKUP, 1, b"..\0") + frec(F, FUSE_LOOKUP, 1, b"d/b\0") + frec(F, FUSE_LOOKUP, 1, b"a")
     + frec(0, FUSE_GETATTR, 1, b"\0" * 3) + frec(F, FUSE_BATCH_FORGET, 0, le32(0xffffffff) + le32(0) + le64(2) + le64(1)))
