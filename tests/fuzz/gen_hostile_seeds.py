#!/usr/bin/env python3
"""
Seeds for the fuzz harnesses from issue 15's hostile guests
(tests/e2e/hostile.sh, guest/hostile/h_flood.c): the port floods (REP
OUTS/INS to port 0x80's marks, the explain ports 0xe8/0xec, the test
device's 0xe0/0xf0, the UART at 0x3f8), huge REP counts, MMIO floods, and
page-table stores by CMPXCHG/CMPXCHG8B/CMPXCHG16B/XCHG under the wp and
unsync sync modes.  Each seed is built from the input layouts the harnesses
read (tests/fuzz/shadow_guest.h and shadow_guest.c's guest_build,
fuzz_emulate.c, fuzz_trap.c, fuzz_irqchip.c), not written by hand.

The harnesses' machine has no test device and no mark or explain sinks (it
is board_init's board alone), so those ports reach the emulator's string
I/O and the port bus as the guest sees them without -device ombra-test.

Usage: python3 tests/fuzz/gen_hostile_seeds.py [CORPUS_DIR]
(default tests/fuzz/corpus; writes emulate/hostile-*, trap/hostile-*,
irqchip/hostile-*; stdlib only).
"""
import os
import struct
import sys

# shadow_guest.h
G_PROT32, G_PAGING32, G_PAE, G_LONG64, G_COMPAT = range(5)
SYNC = {"vtlb": 0, "wp": 1, "unsync": 2}
G_RAM = 0x40000          # RAM at 0; [G_RAM, G_RAM + 16 KiB) is mapped hole
G_CODE = 0x10000
REGS = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
VEC_GP, VEC_PF, VEC_UD = 13, 14, 6
PF_P, PF_W, PF_U, PF_FETCH = 1, 2, 4, 0x10
RFLAGS_DF = 0x400
# The leaf table guest_build's tables use for [0, G_RAM): per mode, its
# address and entry size (shadow_guest.c, build_tables).
LEAF = {G_PROT32: (0x5000, 4), G_PAGING32: (0x5000, 4), G_PAE: (0x6000, 8),
        G_LONG64: (0x7000, 8), G_COMPAT: (0x7000, 8)}
PWU = 0x7                # present, writable, user


def u8(v):
    return struct.pack("<B", v & 0xff)


def u16(v):
    return struct.pack("<H", v & 0xffff)


def u32(v):
    return struct.pack("<I", v & 0xffffffff)


def u64(v):
    return struct.pack("<Q", v & 0xffffffffffffffff)


def guest(mode, insn, regs=None, cpl3=False, iopl=0, sync="vtlb", wp=True,
          pokes=(), rflags=0, off=0x100, nxe=True, prefetch=False):
    """guest_build's part of an input: mode, control bits, pokes, the 15
    bytes at RIP, CR2, FS/GS bases, registers (all raw), RFLAGS, error
    code and the trap's CR2."""
    regs = dict({"rsp": 0x2e000}, **(regs or {}))          # a stack for delivery
    assert len(insn) <= 15 and len(pokes) < 8
    fa = (1 if cpl3 else 0) | 0x10 | (iopl << 5)          # VIF set
    fb = SYNC[sync] | (4 if prefetch else 0)
    xcr0 = 0x08 | (0x10 if wp else 0)                     # NE, WP
    b = u8(mode) + u8(fa) + u8(fb) + u8(xcr0) + u8(0) + u8(1 if nxe else 0)
    b += u8(len(pokes)) + u16(off) + u32(0)               # kinds: every register raw
    for gpa, data in pokes:
        assert 1 <= len(data) <= 16 and gpa < G_RAM
        b += u32(gpa) + u8(len(data) - 1) + bytes(data)
    b += bytes(insn).ljust(15, b"\0")
    b += u64(0)                                           # CR2
    b += u64(0) + u64(0) + u64(0)                         # FS, GS, kernel GS bases
    for r in REGS:
        b += u64(regs.get(r, 0))
    b += u32(rflags) + u16(0) + u64(0)                    # RFLAGS, error code, trap CR2
    return b


def emulate(g, pte_at=None):
    """fuzz_emulate: 'how' (0: after a #GP; 6: a page-table store), the
    guest, then for a store the table offset the write faults at."""
    if pte_at is None:
        return u8(0) + g
    return u8(6) + g + u16(pte_at - 0x4000)


def rec(vector_sel=0, error=0, cr2=None, code=None, new_rip=False, off=0):
    """One of fuzz_trap's traps: vector_sel 0 a #GP, 1 a #PF; CR2 taken
    raw (canonical) when given; code poked at G_CODE + 0x8000 + i * 4 KiB +
    off, and RIP moved there when new_rip."""
    kind = (0x80 if code is not None else 0) | (0x40 if new_rip else 0)
    b = u8(kind) + u8(vector_sel) + u8(0) + u8(0) + u32(error)
    b += u64(cr2 or 0) + u8(0xc0 if cr2 is not None else 0) + u64(0)
    b += u8(0) + u8(0) + u16(off)
    if code is not None:
        b += bytes(code).ljust(15, b"\0")
    return b


def trap(g, recs, audit=True):
    return u8(0 if audit else 1) + g + b"".join(recs)


def words(gpa, value, n):
    """Pokes filling n 32-bit words at gpa with value (16 bytes a poke)."""
    data = u32(value) * n
    return [(gpa + i, data[i:i + 16]) for i in range(0, len(data), 16)]


# Instructions (SDM vol. 2).
REP_OUTSB, REP_OUTSD, REP_INSB, REP_INSD = b"\xf3\x6e", b"\xf3\x6f", b"\xf3\x6c", b"\xf3\x6d"
REP_OUTSW = b"\x66\xf3\x6f"
REP_STOSB, REP_STOSD, REP_MOVSD = b"\xf3\xaa", b"\xf3\xab", b"\xf3\xa5"
BUF = 0x20000 - 0x1000   # a data buffer in RAM, below the stacks
ALL = (1 << 64) - 1


def port_seeds():
    """Port floods and huge counts, in emulate_insn (after a #GP) and as
    a run of #GP traps resuming the same REP (fuzz_trap)."""
    text = [(BUF + i, b"hostile guest!\r\n") for i in range(0, 96, 16)]
    cases = {
        # name: (mode, insn, registers, extra guest_build arguments)
        "markflood-outsb-port80-long64": (G_LONG64, REP_OUTSB,
            {"rdx": 0x80, "rsi": BUF, "rcx": 4096}, {}),
        "markflood-outsb-port80-pae-cpl3-iopl3": (G_PAE, REP_OUTSB,
            {"rdx": 0x80, "rsi": BUF, "rcx": 4096}, {"cpl3": True, "iopl": 3}),
        "explainflood-outsd-0xe8-compat": (G_COMPAT, REP_OUTSD,
            {"rdx": 0xe8, "rsi": BUF, "rcx": 4096}, {"pokes": words(BUF, BUF, 8)}),
        "explain-high-outsd-0xec-long64": (G_LONG64, REP_OUTSD,
            {"rdx": 0xec, "rsi": BUF, "rcx": 2}, {"pokes": words(BUF, 0xffff8000, 2)}),
        "moveflood-outsd-0xe0-prot32": (G_PROT32, REP_OUTSD,
            {"rdx": 0xe0, "rsi": BUF, "rcx": 4096}, {"pokes": words(BUF, 0x100000, 16)}),
        "remapflood-outsd-0xf0-paging32": (G_PAGING32, REP_OUTSD,
            {"rdx": 0xf0, "rsi": BUF, "rcx": 4096}, {"pokes": words(BUF, 0x1000, 16)}),
        "errflood-outsd-0xe0-long64": (G_LONG64, REP_OUTSD,
            {"rdx": 0xe0, "rsi": BUF, "rcx": 4096}, {"pokes": words(BUF, 0xf0000000, 16)}),
        "serialflood-outsb-0x3f8-prot32": (G_PROT32, REP_OUTSB,
            {"rdx": 0x3f8, "rsi": BUF, "rcx": 4096}, {"pokes": text}),
        "serialflood-outsw-0x3f8-compat-df": (G_COMPAT, REP_OUTSW,
            {"rdx": 0x3f8, "rsi": BUF + 0x800, "rcx": 4096}, {"rflags": RFLAGS_DF}),
        "huge-outsd-port80-long64": (G_LONG64, REP_OUTSD,
            {"rdx": 0x80, "rsi": BUF, "rcx": ALL}, {}),
        "huge-insd-0xe0-long64": (G_LONG64, REP_INSD,
            {"rdx": 0xe0, "rdi": BUF, "rcx": ALL}, {}),
        "huge-insb-port80-paging32-a16": (G_PAGING32, b"\x67" + REP_INSB,
            {"rdx": 0x80, "rdi": 0x8000, "rcx": 0xffff}, {}),
        "huge-outsb-0x3f8-long64-a32": (G_LONG64, b"\x67" + REP_OUTSB,
            {"rdx": 0x3f8, "rsi": BUF, "rcx": 0xffffffff}, {}),
        "huge-outsb-port80-pae-df": (G_PAE, REP_OUTSB,
            {"rdx": 0x80, "rsi": BUF, "rcx": 0xffffffff}, {"rflags": RFLAGS_DF}),
        "out-imm-0xe8-eax-long64": (G_LONG64, b"\xe7\xe8",
            {"rax": BUF}, {}),
        "out-dx-port80-al-cpl3-iopl3-long64": (G_LONG64, b"\xee",
            {"rdx": 0x80, "rax": 0x42}, {"cpl3": True, "iopl": 3}),
    }
    emu, trp = {}, {}
    for name, (mode, insn, regs, kw) in cases.items():
        emu[name] = emulate(guest(mode, insn, regs, **kw))
        # The same flood as a guest runs it: a #GP at the same RIP each
        # time a batch ends, 24 traps.  A flood's count is raised so the
        # REP outlasts them (up to 98,304 iterations) within RAM.
        if regs.get("rcx") == 4096:
            size = 1 if insn[-1] in (0x6c, 0x6e) else 4
            down = kw.get("rflags", 0) & RFLAGS_DF
            regs = dict(regs, rcx=min(24 * 4096, 0x3f000 // size), rsi=0x3fff0 if down else 0x100)
        trp[name] = trap(guest(mode, insn, regs, **kw), [rec() for _ in range(24)])
    return emu, trp


def mmio_seeds():
    """MMIO floods for fuzz_trap: a #PF on the mapped hole at G_RAM
    (guest tables map it, no memslot holds it), again and again."""
    hole = G_RAM
    seeds = {}
    seeds["mmioflood-rep-stosb-long64"] = trap(
        guest(G_LONG64, REP_STOSB, {"rdi": hole, "rcx": ALL, "rax": 0x55}),
        [rec(1, PF_P | PF_W, cr2=hole + i * 0x1000) for i in range(8)])
    seeds["mmioflood-rep-stosd-paging32-df"] = trap(
        guest(G_PAGING32, REP_STOSD, {"rdi": hole + 0x3ffc, "rcx": 0xffffffff},
              rflags=RFLAGS_DF),
        [rec(1, PF_P | PF_W, cr2=hole + 0x3ffc) for _ in range(6)])
    seeds["mmioflood-rep-movsb-from-hole-pae"] = trap(
        guest(G_PAE, b"\xf3\xa4", {"rsi": hole, "rdi": 0x30000 - 0x4000, "rcx": 0x4000}),
        [rec(1, PF_P, cr2=hole + i * 0x1000) for i in range(4)])
    # A store to the hole in a loop: each trap at a copy of the store
    # (RIP moved to it), as a guest's loop would come back to one.
    mov = b"\x89\x07"                                     # mov [edi], eax
    seeds["mmioflood-mov-store-compat"] = trap(
        guest(G_COMPAT, mov, {"rdi": hole + 0x10, "rax": 0xdeadbeef}),
        [rec(1, PF_P | PF_W, cr2=hole + 0x10)] +
        [rec(1, PF_P | PF_W, cr2=hole + 0x10, code=mov, new_rip=True) for _ in range(23)])
    return seeds


def pte_cases():
    """Page-table stores: (name, mode, sync, instruction, registers,
    extra) with RDI at a table entry.  Under wp, the leaf entry of page
    0x20 (0x20007); under unsync, where leaf tables go out of sync instead
    of being emulated, the directory entry over the leaf table (a store
    that keeps it, with A set, or for XCHG the same entry)."""
    out = []
    for mode, mname in ((G_PAGING32, "paging32"), (G_PAE, "pae"), (G_LONG64, "long64"),
                        (G_COMPAT, "compat")):
        leaf, esize = LEAF[mode]
        rex = b"\x48" if mode == G_LONG64 else b""
        for sync in ("wp", "unsync"):
            if sync == "wp":
                ent, old = leaf + 0x20 * esize, 0x20000 | PWU
                new, nxt = 0x21000 | PWU, 0x21000 | PWU
            else:
                ent, old = leaf - 0x1000, leaf | PWU
                new, nxt = old | 0x20, 0
            # CMPXCHG that succeeds: RAX holds the entry, RCX the new one.
            out.append(("cmpxchg-%s-%s" % (mname, sync), mode, sync,
                        b"\xf0" + rex + b"\x0f\xb1\x0f",
                        {"rdi": ent, "rax": old, "rcx": new}, {}))
            # CMPXCHG that fails (RAX differs): the entry stays, RAX gets it.
            out.append(("cmpxchg-fails-%s-%s" % (mname, sync), mode, sync,
                        b"\xf0" + rex + b"\x0f\xb1\x0f",
                        {"rdi": ent, "rax": old ^ 0x1000, "rcx": 0}, {}))
            # CMPXCHG8B: EDX:EAX the entry (two entries in 2-level
            # paging), ECX:EBX the new one (NX in the high half for PAE
            # and long mode).
            out.append(("cmpxchg8b-%s-%s" % (mname, sync), mode, sync, b"\xf0\x0f\xc7\x0f",
                        {"rdi": ent, "rax": old, "rdx": 0 if esize == 8 else nxt,
                         "rbx": new, "rcx": 0x80000000 if esize == 8 else nxt}, {}))
            # XCHG: always locked, swaps the entry and RCX.
            out.append(("xchg-%s-%s" % (mname, sync), mode, sync, rex + b"\x87\x0f",
                        {"rdi": ent, "rcx": new if sync == "unsync" else 0}, {}))
        if mode == G_LONG64:
            # CMPXCHG16B on an entry and the next: not a store ombra
            # emulates (ptwrite.c unprotects the table and the guest runs
            # it again natively).
            out.append(("cmpxchg16b-long64-wp", mode, "wp", b"\xf0\x48\x0f\xc7\x0f",
                        {"rdi": leaf + 0x20 * esize, "rax": 0x20000 | PWU, "rdx": 0x21000 | PWU,
                         "rbx": 0, "rcx": 0}, {}))
            # A byte CMPXCHG on the entry's low byte at CPL 3 (the tables
            # are user-writable in the harness's mapping).
            out.append(("cmpxchg-byte-long64-wp-cpl3", mode, "wp", b"\x0f\xb0\x0f",
                        {"rdi": leaf + 0x20 * esize, "rax": PWU, "rcx": 0x05}, {"cpl3": True}))
        if mode == G_COMPAT:
            out.append(("cmpxchg-word-compat-wp", mode, "wp", b"\x66\x0f\xb1\x0f",
                        {"rdi": leaf + 0x20 * esize, "rax": PWU, "rcx": 0x1007}, {}))
    return out


def pte_seeds():
    emu, trp = {}, {}
    for name, mode, sync, insn, regs, kw in pte_cases():
        ent = regs["rdi"]
        emu["pte-" + name] = emulate(guest(mode, insn, regs, sync=sync, **kw), pte_at=ent)
        # In a run: a fetch fault at RIP fills the shadow (and so
        # write-protects the tables), then the store faults on the entry.
        code = G_CODE + 0x100
        trp["pte-" + name] = trap(guest(mode, insn, regs, sync=sync, **kw),
                                  [rec(1, PF_FETCH, cr2=code), rec(1, PF_P | PF_W, cr2=ent),
                                   rec(1, PF_P | PF_W, cr2=ent)])
    return emu, trp


def irq_op(op, a=0, v32=0):
    """One 6-byte step of fuzz_irqchip: op, a, then 4 bytes (b = the low
    byte of v32; a time step reads a | b << 8 | byte 3 << 16)."""
    return u8(op) + u8(a) + u32(v32)


def irq_time(ns):
    return u8(14) + u8(ns & 0xff) + u8((ns >> 8) & 0xff) + u8((ns >> 16) & 0xff) + u16(0)


def pic_init():
    """ICW1-4 for both PICs (vectors 0x20/0x28, cascade on IRQ 2), all
    unmasked: op 3 writes pic_ports[a % 6] (0x20, 0x21, 0xa0, 0xa1)."""
    s = b""
    for base, vec, icw3 in ((0, 0x20, 0x04), (2, 0x28, 0x02)):
        s += irq_op(3, base, 0x11) + irq_op(3, base + 1, vec) + irq_op(3, base + 1, icw3)
        s += irq_op(3, base + 1, 0x01) + irq_op(3, base + 1, 0x00)
    return s


def lapic_on():
    return irq_op(10, 0xf0 // 16, 0x1ff)                  # SVR: enabled, vector 0xff


def irq_seeds():
    seeds = {}
    # The PIT at its fastest: mode 2, count 1 (held to KVM's minimum
    # period, 200 us), IRQ 0 through the PIC and LINT0, acknowledged and
    # EOIed each step (an interrupt storm).
    s = lapic_on() + irq_op(10, 0x350 // 16, 0x700)        # LINT0: ExtINT, unmasked
    s += pic_init() + irq_op(0, 3, 0x34) + irq_op(0, 0, 1) + irq_op(0, 0, 0)
    for _ in range(40):
        s += irq_time(200000) + irq_op(6, 0) + irq_op(3, 0, 0x20)   # KVM's minimum period
    seeds["pit-count1-storm"] = s
    # The APIC timer periodic, divide by 1, count 1: its vector as fast
    # as time goes, accepted and EOIed.
    s = lapic_on() + irq_op(10, 0x3e0 // 16, 0xb) + irq_op(10, 0x320 // 16, 0x20040)
    s += irq_op(10, 0x380 // 16, 1)
    for _ in range(40):
        s += irq_time(50) + irq_op(12) + irq_op(10, 0xb0 // 16, 0)
    seeds["lapic-timer-periodic-count1-storm"] = s
    # A level-triggered I/O APIC pin held high: each EOI redelivers it
    # (remote IRR), a storm the guest keeps going by EOIing.
    s = lapic_on() + irq_op(13, 1)                         # the I/O APIC learns the APIC's state
    s += irq_op(7, 0, 0x10 + 2 * 5) + irq_op(7, 1, 0x8000 | 0x41)
    s += irq_op(7, 0, 0x10 + 2 * 5 + 1) + irq_op(7, 1, 0)
    s += irq_op(9, 5, 1)
    for _ in range(40):
        s += irq_op(12) + irq_op(10, 0xb0 // 16, 0)
    seeds["ioapic-level-pin-eoi-storm"] = s
    # Self-IPIs through the ICR, all shorthand "self", back to back.
    s = lapic_on()
    for i in range(40):
        s += irq_op(10, 0x300 // 16, 0x40000 | (0x30 + i % 0x40)) + irq_op(12)
        s += irq_op(10, 0xb0 // 16, 0)
    seeds["lapic-self-ipi-flood"] = s
    # EOIs and OCWs with nothing in service, and bare INTAs (spurious
    # IRQ 7): a guest hammering the PIC's ports.
    s = pic_init()
    for i in range(40):
        s += irq_op(3, (i % 2) * 2, 0x20) + irq_op(6, 1) + irq_op(3, 0, 0x0b) + irq_op(4, i % 6)
    seeds["pic-eoi-inta-flood"] = s
    return seeds


def write(dirname, seeds):
    os.makedirs(dirname, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(dirname, "hostile-" + name), "wb") as f:
            f.write(data)


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    emu, trp = port_seeds()
    pemu, ptrp = pte_seeds()
    emu.update(pemu)
    trp.update(ptrp)
    trp.update(mmio_seeds())
    write(os.path.join(top, "emulate"), emu)
    write(os.path.join(top, "trap"), trp)
    write(os.path.join(top, "irqchip"), irq_seeds())
    print("%d emulate, %d trap, %d irqchip seeds under %s" % (len(emu), len(trp), len(irq_seeds()), top))


if __name__ == "__main__":
    main()
