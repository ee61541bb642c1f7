//! Architected state of one Power ISA processor thread.
//!
//! Register numbering follows the ISA (bit 0 is the most significant). Vector-scalar registers are
//! held as two doublewords, `[dw0, dw1]`, where dw0 is the ISA's doubleword 0 (the high-order half);
//! FPR n is VSR n doubleword 0 and VR n is VSR 32+n.

use crate::mem::GuestMemory;
use std::sync::Arc;

/// Processor models; the instruction subset and SPR set follow the ISA level of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CpuModel {
    Power7,
    Power8,
    Power9,
    Power10,
}

/// Levels of the Power ISA (Server), oldest first: an instruction introduced at a later level than
/// a CPU's is illegal on it. Ordered, so gating is one comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IsaLevel {
    V2_06,
    V2_07,
    V3_0,
    V3_1,
}

impl IsaLevel {
    /// The newest level implemented.
    pub const MAX: IsaLevel = IsaLevel::V3_1;

    /// PAPR logical PVR of the processor-compatibility ("architected") mode of this level.
    pub fn logical_pvr(self) -> u32 {
        match self {
            IsaLevel::V2_06 => 0x0f00_0003,
            IsaLevel::V2_07 => 0x0f00_0004,
            IsaLevel::V3_0 => 0x0f00_0005,
            IsaLevel::V3_1 => 0x0f00_0006,
        }
    }

    /// The level whose logical PVR is `pvr`.
    pub fn from_logical_pvr(pvr: u32) -> Option<IsaLevel> {
        [
            IsaLevel::V2_06,
            IsaLevel::V2_07,
            IsaLevel::V3_0,
            IsaLevel::V3_1,
        ]
        .into_iter()
        .find(|l| l.logical_pvr() == pvr)
    }

    /// Name of the compatibility mode of this level, as in `-cpu ...,compat=power8`.
    pub fn compat_name(self) -> &'static str {
        match self {
            IsaLevel::V2_06 => "power7",
            IsaLevel::V2_07 => "power8",
            IsaLevel::V3_0 => "power9",
            IsaLevel::V3_1 => "power10",
        }
    }

    /// The level of compatibility mode `s` ("power8", "POWER8"; case does not matter).
    pub fn from_compat_name(s: &str) -> Option<IsaLevel> {
        [
            IsaLevel::V2_06,
            IsaLevel::V2_07,
            IsaLevel::V3_0,
            IsaLevel::V3_1,
        ]
        .into_iter()
        .find(|l| l.compat_name().eq_ignore_ascii_case(s))
    }

    /// The processor that introduced this level (compatibility modes are named after it).
    pub fn model(self) -> CpuModel {
        match self {
            IsaLevel::V2_06 => CpuModel::Power7,
            IsaLevel::V2_07 => CpuModel::Power8,
            IsaLevel::V3_0 => CpuModel::Power9,
            IsaLevel::V3_1 => CpuModel::Power10,
        }
    }
}

impl CpuModel {
    pub const ALL: [CpuModel; 4] = [
        CpuModel::Power7,
        CpuModel::Power8,
        CpuModel::Power9,
        CpuModel::Power10,
    ];

    /// Processor version register, as QEMU's default revision of each model: POWER7 v2.3,
    /// POWER8 v2.0, POWER9 DD2.2, POWER10 DD2.0 (the last two with the SMT4-core chip type).
    pub fn pvr(self) -> u32 {
        match self {
            CpuModel::Power7 => 0x003f_0203,
            CpuModel::Power8 => 0x004d_0200,
            CpuModel::Power9 => 0x004e_1202,
            CpuModel::Power10 => 0x0080_1200,
        }
    }

    pub fn isa_level(self) -> IsaLevel {
        match self {
            CpuModel::Power7 => IsaLevel::V2_06,
            CpuModel::Power8 => IsaLevel::V2_07,
            CpuModel::Power9 => IsaLevel::V3_0,
            CpuModel::Power10 => IsaLevel::V3_1,
        }
    }

    /// Upper-case name, as in device-tree node names ("PowerPC,POWER9").
    pub fn name(self) -> &'static str {
        match self {
            CpuModel::Power7 => "POWER7",
            CpuModel::Power8 => "POWER8",
            CpuModel::Power9 => "POWER9",
            CpuModel::Power10 => "POWER10",
        }
    }

    /// The model called `s` ("POWER9", "power9"; case does not matter).
    pub fn from_name(s: &str) -> Option<CpuModel> {
        CpuModel::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
    }

    /// The processor compatibility register value that makes this processor behave as ISA
    /// level `compat` (`Cpu::isa_level` reads it back): the bit of that level and of every
    /// level between it and the model's own, as a hypervisor sets it after CAS. Zero when
    /// `compat` is not older than the model.
    pub fn pcr_for(self, compat: IsaLevel) -> u64 {
        const BITS: [(IsaLevel, u64); 3] = [
            (IsaLevel::V2_06, 0x4),
            (IsaLevel::V2_07, 0x8),
            (IsaLevel::V3_0, 0x10),
        ];
        let own = self.isa_level();
        BITS.iter()
            .filter(|&&(l, _)| l >= compat && l < own)
            .fold(0, |p, &(_, b)| p | b)
    }

    /// Whether PVR value `pvr` belongs to this processor (the version field, any revision).
    pub fn matches_pvr(self, pvr: u32) -> bool {
        pvr >> 16 == self.pvr() >> 16
    }
}

/// MSR bits (ISA 3.0 numbering converted to shifts from the LSB).
pub mod msr {
    pub const SF: u64 = 1 << 63;
    pub const HV: u64 = 1 << 60;
    pub const VEC: u64 = 1 << 25;
    pub const VSX: u64 = 1 << 23;
    pub const EE: u64 = 1 << 15;
    pub const PR: u64 = 1 << 14;
    pub const FP: u64 = 1 << 13;
    pub const ME: u64 = 1 << 12;
    pub const FE0: u64 = 1 << 11;
    pub const SE: u64 = 1 << 10;
    pub const BE: u64 = 1 << 9;
    pub const FE1: u64 = 1 << 8;
    pub const IR: u64 = 1 << 5;
    pub const DR: u64 = 1 << 4;
    pub const RI: u64 = 1 << 1;
    pub const LE: u64 = 1;
}

/// The fixed-point exception register, kept unpacked because CA/OV/SO are updated far more often
/// than XER is read as a whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Xer {
    pub so: bool,
    pub ov: bool,
    pub ca: bool,
    pub ov32: bool,
    pub ca32: bool,
    /// Bits 57:63, the byte count of lswx/stswx.
    pub count: u8,
}

impl Xer {
    pub fn get(&self) -> u64 {
        (self.so as u64) << 31
            | (self.ov as u64) << 30
            | (self.ca as u64) << 29
            | (self.ov32 as u64) << 19
            | (self.ca32 as u64) << 18
            | (self.count & 0x7f) as u64
    }

    pub fn set(&mut self, v: u64) {
        self.so = v >> 31 & 1 != 0;
        self.ov = v >> 30 & 1 != 0;
        self.ca = v >> 29 & 1 != 0;
        self.ov32 = v >> 19 & 1 != 0;
        self.ca32 = v >> 18 & 1 != 0;
        self.count = (v & 0x7f) as u8;
    }
}

/// SPR numbers of registers held in `Cpu::spr` (plain storage, no side effects on access) or handled
/// specially by the SPR move instructions.
pub mod sprn {
    pub const XER: usize = 1;
    pub const DSCR_U: usize = 3;
    pub const LR: usize = 8;
    pub const CTR: usize = 9;
    pub const DSCR: usize = 17;
    pub const DSISR: usize = 18;
    pub const DAR: usize = 19;
    pub const DEC: usize = 22;
    pub const SDR1: usize = 25;
    pub const SRR0: usize = 26;
    pub const SRR1: usize = 27;
    pub const CFAR: usize = 28;
    pub const AMR: usize = 29;
    pub const PIDR: usize = 48;
    pub const IAMR: usize = 61;
    pub const CTRL_R: usize = 136;
    pub const CTRL_W: usize = 152;
    pub const FSCR: usize = 153;
    pub const UAMOR: usize = 157;
    pub const PSPB: usize = 159;
    pub const DPDES: usize = 176;
    pub const DAWR0: usize = 180;
    pub const CIABR: usize = 187;
    pub const DAWRX0: usize = 188;
    pub const HFSCR: usize = 190;
    pub const VRSAVE: usize = 256;
    pub const SPRG3_R: usize = 259;
    pub const TBL_R: usize = 268;
    pub const TBU_R: usize = 269;
    pub const SPRG0: usize = 272;
    pub const SPRG1: usize = 273;
    pub const SPRG2: usize = 274;
    pub const SPRG3: usize = 275;
    pub const TBL_W: usize = 284;
    pub const TBU_W: usize = 285;
    pub const TBU40: usize = 286;
    pub const PVR: usize = 287;
    pub const HSPRG0: usize = 304;
    pub const HSPRG1: usize = 305;
    pub const HDSISR: usize = 306;
    pub const HDAR: usize = 307;
    pub const SPURR: usize = 308;
    pub const PURR: usize = 309;
    pub const HDEC: usize = 310;
    pub const HRMOR: usize = 313;
    pub const HSRR0: usize = 314;
    pub const HSRR1: usize = 315;
    pub const LPCR: usize = 318;
    pub const LPIDR: usize = 319;
    pub const HMER: usize = 336;
    pub const HMEER: usize = 337;
    pub const PCR: usize = 338;
    pub const HEIR: usize = 339;
    pub const AMOR: usize = 349;
    pub const TIR: usize = 446;
    pub const PTCR: usize = 464;
    pub const ASDR: usize = 816;
    pub const PSSCR_U: usize = 823;
    pub const PSSCR: usize = 855;
    pub const TAR: usize = 815;
    pub const PPR: usize = 896;
    pub const PPR32: usize = 898;
    pub const PIR: usize = 1023;
}

/// LPCR fields the CPU acts on.
pub mod lpcr {
    /// Alternate interrupt location (bits 39:40).
    pub const AIL_SHIFT: u32 = 23;
    pub const AIL_MASK: u64 = 3 << AIL_SHIFT;
    /// Host radix (bit 41): the partition uses radix translation.
    pub const HR: u64 = 1 << 20;
    /// Large decrementer enable.
    pub const LD: u64 = 1 << 17;
    /// Interrupt little-endian: interrupts set MSR[LE] to this.
    pub const ILE: u64 = 1 << 25;
    /// Hypervisor virtualization interrupt conditionally enable.
    pub const HVICE: u64 = 1 << 1;
}

/// What other threads (interrupt controllers, other vCPUs) post to a vCPU: interrupt lines, and
/// `EXIT`, which makes its run loop leave the inner loop before the next instruction (raising any
/// line sets it too). It also carries the vCPU's side of the cross-vCPU coherence protocol
/// (`crate::smp`): whether it is inside `run`, the TLB generation it has caught up with, and code
/// pages other vCPUs invalidated.
#[derive(Debug, Default)]
pub struct IrqLines {
    bits: std::sync::atomic::AtomicU32,
    pub(crate) running: std::sync::atomic::AtomicBool,
    pub(crate) tlb_acked: std::sync::atomic::AtomicU64,
    pub(crate) icache: std::sync::Mutex<Vec<u64>>,
}

impl IrqLines {
    /// External interrupt (XICS ICP output, or XIVE).
    pub const EXTERNAL: u32 = 1;
    /// Directed privileged doorbell (msgsndp, via DPDES).
    pub const DOORBELL: u32 = 2;
    /// Wake from idle without an interrupt (H_PROD, machine stop request).
    pub const KICK: u32 = 4;
    /// Leave the run loop's inner loop now (interrupt, TLB shootdown, code invalidation, MSR
    /// change, the end of a slice).
    pub const EXIT: u32 = 8;

    pub fn raise(&self, b: u32) {
        self.bits
            .fetch_or(b | Self::EXIT, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn lower(&self, b: u32) {
        self.bits.fetch_and(!b, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn get(&self) -> u32 {
        self.bits.load(std::sync::atomic::Ordering::SeqCst)
    }
    /// Address of the line bits, which translated code reads to see `EXIT`.
    pub(crate) fn bits_ptr(&self) -> *const std::sync::atomic::AtomicU32 {
        &self.bits
    }

    /// Whether the run loop must leave its inner loop (checked before every instruction: one
    /// plain load on x86-64).
    #[inline(always)]
    pub fn exit_requested(&self) -> bool {
        self.bits.load(std::sync::atomic::Ordering::Relaxed) & Self::EXIT != 0
    }
}

/// A load reservation: the granule l*arx named (EA and length), the real address it translated
/// to, and the bytes it loaded. st*cx. stores only if those bytes are still in memory, with one
/// host compare-and-swap, so a store by another vCPU in between makes it fail and no update is
/// lost (a store of the very same value goes unnoticed, as with QEMU's TCG).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub ea: u64,
    pub len: u8,
    pub ra: u64,
    pub raw: [u8; 16],
}

/// Why execution stopped before the next instruction could complete. The interrupt that the ISA
/// delivers for each is chosen by the caller: a user-mode runner turns these into signals or syscalls,
/// the machine into architected interrupts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exception {
    /// `sc LEV` (LEV 0 system call, 1 hypercall, 2 ultravisor); `pc` already points past it.
    SystemCall {
        lev: u8,
    },
    /// `scv LEV`; `pc` already points past it.
    SystemCallVectored {
        lev: u8,
    },
    /// Program interrupt: illegal instruction, privileged instruction, trap, or enabled FP exception.
    Program(ProgramKind),
    /// Data storage interrupt: the access at `ea` could not be performed.
    DataStorage {
        ea: u64,
        write: bool,
    },
    /// Instruction storage interrupt: no instruction could be fetched at `ea`.
    InstructionStorage {
        ea: u64,
    },
    /// Data segment interrupt (no segment / outside the radix tree) for the access at `ea`.
    DataSegment {
        ea: u64,
    },
    /// Instruction segment interrupt for the fetch at `ea`.
    InstructionSegment {
        ea: u64,
    },
    /// Alignment interrupt for the access at `ea`.
    Alignment {
        ea: u64,
    },
    FpUnavailable,
    VecUnavailable,
    VsxUnavailable,
    /// Facility unavailable (FSCR/HFSCR controlled), with the FSCR IC value.
    FacilityUnavailable {
        ic: u8,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramKind {
    Illegal,
    Privileged,
    Trap,
    FloatingPoint,
}

/// Result of executing one instruction.
pub type Ex = Result<(), Exception>;

/// One hardware thread's registers plus its view of memory.
pub struct Cpu {
    pub gpr: [u64; 32],
    /// VSR 0..63 as `[doubleword 0, doubleword 1]`.
    pub vsr: [[u64; 2]; 64],
    pub cr: u32,
    pub lr: u64,
    pub ctr: u64,
    pub xer: Xer,
    pub fpscr: u64,
    /// VSCR: bit 16 (NJ) and bit 0 (SAT) in the low word.
    pub vscr: u32,
    pub vrsave: u32,
    pub tar: u64,
    pub dscr: u64,
    pub ppr: u64,
    pub msr: u64,
    /// Address of the instruction being executed (the current instruction address).
    pub pc: u64,
    /// Address of the next instruction; set to pc+4 before each instruction, changed by branches.
    pub nip: u64,
    /// Load reservation taken by l*arx.
    pub reservation: Option<Reservation>,
    pub model: CpuModel,
    pub mem: Arc<GuestMemory>,
    /// Cached MSR[LE]: data and instruction accesses are little-endian.
    pub le: bool,
    /// Cached from MSR[SF]: effective addresses are masked with this (all ones in 64-bit mode).
    pub ea_mask: u64,
    /// Instruction pages whose decoded form must be dropped; filled by `invalidate_icache`,
    /// drained by the run loop.
    pub icache_inval: Vec<u64>,
    /// The code-coherence generation this vCPU has caught up with (`mem::CodeMap`).
    pub(crate) code_seen: u64,
    /// Offset added to the host monotonic clock to give the timebase.
    pub tb_offset: u64,
    /// SPRs without side effects, indexed by SPR number (see `sprn`).
    pub spr: Box<[u64; 1024]>,
    /// Decrementer: the value written and the timebase at the write; it counts down from there.
    pub dec_written: u64,
    pub dec_tb: u64,
    /// Hypervisor decrementer, likewise.
    pub hdec_written: u64,
    pub hdec_tb: u64,
    /// Partition table entry of this partition, provided by the (virtual) hypervisor:
    /// dw0 holds the hashed page table's HTABORG/HTABSIZE, dw1 the process table base/size for
    /// radix guests.
    pub pate: [u64; 2],
    /// Segment lookaside buffer of the hash MMU.
    pub slb: [crate::mmu::SlbEntry; crate::mmu::SLB_SIZE],
    /// The partition's hashed page table, which the (virtual) hypervisor owns and provides
    /// (its size is in `pate[0]`); None until the hypervisor sets one up.
    pub hpt: Option<Arc<crate::mmu::Hpt>>,
    /// The devices at real addresses outside RAM (`crate::mem::Mmio`); None: no devices.
    pub mmio: Option<Arc<dyn crate::mem::Mmio>>,
    /// DSISR (for DSI) or SRR1 cause bits (for ISI) of the last translation fault; 0 = none.
    pub fault_bits: u64,
    /// Software TLB (translations of relocated accesses).
    pub tlb: crate::mmu::Tlb,
    /// Asynchronous interrupt requests from other threads.
    pub irq: Arc<IrqLines>,
    /// Asynchronous interrupts (decrementer, external, doorbell) are delivered by `run`. Off for
    /// user-mode emulation, where nothing would handle them.
    pub async_irqs: bool,
    /// The other vCPUs of the machine, for TLB shootdowns and code invalidation (None for a
    /// lone CPU, e.g. lpar-user).
    pub smp: Option<Arc<crate::smp::Smp>>,
    /// The TLB generation (`Smp`) this vCPU's TLB has caught up with.
    pub tlb_seen: u64,
    /// The virtual clock of the reproducible mode (`crate::clock`); None: the host clock.
    pub vclock: Option<Arc<crate::clock::VirtualClock>>,
    /// Threads of this vCPU's core; its own thread number is SPR TIR, and the core's threads are
    /// vCPUs PIR - TIR .. PIR - TIR + threads (msgsndp targets them).
    pub threads: u32,
    /// Instructions retired, for statistics and benchmarks.
    pub icount: u64,
    /// Prefix word of the prefixed instruction being executed (0 for ordinary instructions).
    pub prefix: u32,
    /// The exception an interpreter helper raised inside translated code (`crate::jit`), for
    /// the dispatcher to return.
    pub(crate) jit_exc: Option<Exception>,
    /// Bytes translated stores overwrote (host address, old value), kept only while the lockstep
    /// checker runs a block.
    pub(crate) jit_log: Option<Vec<(usize, u8)>>,
    /// Block chaining state shared with translated code (`crate::jit`): how many more
    /// instructions the blocks of one dispatch may run (counted down as they retire), and the link
    /// slot (and key of its block) the last exit asks to fill.
    pub(crate) jit_left: i64,
    pub(crate) jit_link_slot: u64,
    pub(crate) jit_link_key: u64,
}

/// Timebase frequency, as QEMU's pseries and POWER9 hardware: 512 MHz.
pub const TB_FREQ: u64 = 512_000_000;

impl Cpu {
    pub fn new(model: CpuModel, mem: Arc<GuestMemory>) -> Cpu {
        Cpu {
            gpr: [0; 32],
            vsr: [[0; 2]; 64],
            cr: 0,
            lr: 0,
            ctr: 0,
            xer: Xer::default(),
            fpscr: 0,
            vscr: 0x10000, // NJ=1 is the architected reset value
            vrsave: 0,
            tar: 0,
            dscr: 0,
            ppr: 0x000c_0000_0000_0000, // medium priority, the ISA reset value
            msr: msr::SF,
            pc: 0,
            nip: 0,
            reservation: None,
            model,
            mem,
            le: false,
            ea_mask: u64::MAX,
            icache_inval: Vec::with_capacity(8),
            code_seen: 0,
            tb_offset: 0,
            icount: 0,
            prefix: 0,
            jit_exc: None,
            jit_log: None,
            jit_left: 0,
            jit_link_slot: 0,
            jit_link_key: 0,
            spr: {
                let mut s = Box::new([0; 1024]);
                s[sprn::CTRL_W] = 1; // run latch on: the thread is running
                s
            },
            // DEC starts at its largest positive value so nothing fires before software sets it.
            dec_written: 0x7fff_ffff,
            dec_tb: host_ticks(),
            hdec_written: 0,
            hdec_tb: 0,
            pate: [0; 2],
            slb: Default::default(),
            hpt: None,
            mmio: None,
            fault_bits: 0,
            tlb: Default::default(),
            irq: Arc::new(IrqLines::default()),
            smp: None,
            tlb_seen: 0,
            threads: 1,
            vclock: None,
            async_irqs: false,
        }
    }

    /// Sets MSR and refreshes the cached fields derived from it. Ends the current slice so that
    /// translation/endianness changes and newly enabled interrupts take effect before the next
    /// instruction.
    pub fn set_msr(&mut self, v: u64) {
        self.msr = v;
        self.le = v & msr::LE != 0;
        self.ea_mask = if v & msr::SF != 0 {
            u64::MAX
        } else {
            0xffff_ffff
        };
        self.end_slice();
    }

    /// Makes the run loop leave its inner loop before the next instruction (icbi, MSR or
    /// translation changes, enabling interrupts).
    #[inline]
    pub fn end_slice(&self) {
        self.irq.raise(0);
    }

    /// Whether the run loop will leave its inner loop before the next instruction.
    pub fn slice_ending(&self) -> bool {
        self.irq.exit_requested()
    }

    /// The ISA level instructions are decoded at: the model's, lowered by the processor
    /// compatibility register (PCR) a hypervisor sets for an architected compatibility mode.
    /// PCR[v3.0] (0x10), PCR[v2.07] (0x8), PCR[v2.06] (0x4) disable what later levels added;
    /// a hypervisor sets the bit of the chosen level and of every level above it.
    pub fn isa_level(&self) -> IsaLevel {
        let pcr = self.spr[sprn::PCR];
        let capped = if pcr & 0x6 != 0 {
            IsaLevel::V2_06
        } else if pcr & 0x8 != 0 {
            IsaLevel::V2_07
        } else if pcr & 0x10 != 0 {
            IsaLevel::V3_0
        } else {
            IsaLevel::MAX
        };
        self.model.isa_level().min(capped)
    }

    /// 64-bit mode (MSR[SF]); effective addresses are truncated to 32 bits otherwise.
    #[inline(always)]
    pub fn sf(&self) -> bool {
        self.msr & msr::SF != 0
    }

    /// Problem state (user mode).
    #[inline(always)]
    pub fn pr(&self) -> bool {
        self.msr & msr::PR != 0
    }

    /// FPR n (VSR n doubleword 0).
    #[inline(always)]
    pub fn fpr(&self, n: usize) -> u64 {
        self.vsr[n][0]
    }

    #[inline(always)]
    pub fn set_fpr(&mut self, n: usize, v: u64) {
        self.vsr[n][0] = v;
    }

    /// VSR n as a 128-bit integer, doubleword 0 in the high half (ISA element 0 is most significant).
    #[inline(always)]
    pub fn vsr128(&self, n: usize) -> u128 {
        (self.vsr[n][0] as u128) << 64 | self.vsr[n][1] as u128
    }

    #[inline(always)]
    pub fn set_vsr128(&mut self, n: usize, v: u128) {
        self.vsr[n] = [(v >> 64) as u64, v as u64];
    }

    /// VR n (VSR 32+n) as a 128-bit integer.
    #[inline(always)]
    pub fn vr(&self, n: usize) -> u128 {
        self.vsr128(32 + n)
    }

    #[inline(always)]
    pub fn set_vr(&mut self, n: usize, v: u128) {
        self.set_vsr128(32 + n, v)
    }

    /// CR field `bf` (0..7) as a 4-bit value LT|GT|EQ|SO.
    #[inline(always)]
    pub fn crf(&self, bf: usize) -> u32 {
        self.cr >> (28 - 4 * bf) & 0xf
    }

    #[inline(always)]
    pub fn set_crf(&mut self, bf: usize, v: u32) {
        let sh = 28 - 4 * bf;
        self.cr = (self.cr & !(0xf << sh)) | (v & 0xf) << sh;
    }

    /// CR bit `n` in ISA numbering (0 = CR0[LT]).
    #[inline(always)]
    pub fn crbit(&self, n: usize) -> bool {
        self.cr >> (31 - n) & 1 != 0
    }

    #[inline(always)]
    pub fn set_crbit(&mut self, n: usize, v: bool) {
        let m = 1 << (31 - n);
        if v {
            self.cr |= m
        } else {
            self.cr &= !m
        }
    }

    /// CR0 from a result, as the record (`.`) forms do: signed compare against zero plus XER[SO].
    /// In 32-bit mode only the low word is compared.
    #[inline(always)]
    pub fn set_cr0(&mut self, v: u64) {
        let s = if self.sf() { v as i64 } else { v as i32 as i64 };
        let c = if s < 0 {
            8
        } else if s > 0 {
            4
        } else {
            2
        };
        self.set_crf(0, c | self.xer.so as u32);
    }

    /// Drops the decoded form of the instruction page holding `ea` before the next instruction
    /// (icbi, and any write the runner makes to code).
    pub fn invalidate_icache(&mut self, ea: u64) {
        self.icache_inval.push(ea);
        self.end_slice();
        if self.smp.is_some() {
            let ra = self.translate(ea, crate::mmu::Access::Read).ok();
            if let Some(smp) = &self.smp {
                smp.invalidate_code(&self.irq, ra);
            }
        }
    }

    /// Raises FP Unavailable unless MSR[FP]; every FP instruction starts with this.
    #[inline(always)]
    pub fn check_fp(&self) -> Ex {
        if self.msr & msr::FP == 0 {
            return Err(Exception::FpUnavailable);
        }
        Ok(())
    }

    /// Raises Vector Unavailable unless MSR[VEC]; every VMX instruction starts with this.
    #[inline(always)]
    pub fn check_vec(&self) -> Ex {
        if self.msr & msr::VEC == 0 {
            return Err(Exception::VecUnavailable);
        }
        Ok(())
    }

    /// Raises VSX Unavailable unless MSR[VSX]; every VSX instruction starts with this.
    #[inline(always)]
    pub fn check_vsx(&self) -> Ex {
        if self.msr & msr::VSX == 0 {
            return Err(Exception::VsxUnavailable);
        }
        Ok(())
    }

    /// Switches the timebase to a virtual clock (the reproducible mode), keeping the decrementer's
    /// value.
    pub fn set_clock(&mut self, c: Arc<crate::clock::VirtualClock>) {
        let dec = self.dec_written;
        self.vclock = Some(c);
        self.set_dec(dec);
    }

    /// Current timebase value: the host clock's, or the virtual clock's in the reproducible mode.
    pub fn timebase(&self) -> u64 {
        match &self.vclock {
            Some(c) => c.ticks(),
            None => host_ticks(),
        }
        .wrapping_add(self.tb_offset)
    }
}

/// Host monotonic clock in timebase ticks.
pub fn host_ticks() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let ns = ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128;
    (ns * TB_FREQ as u128 / 1_000_000_000) as u64
}
