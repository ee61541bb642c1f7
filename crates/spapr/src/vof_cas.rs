//! ibm,client-architecture-support (CAS): the guest passes its architecture vector (a list of
//! PVR mask/value pairs, then option vectors 1..n); we pick the processor compatibility mode and
//! the option-vector-5 features both sides support (MMU, interrupt controller, ...), publish them
//! in the device tree and remember them for the virtual hypervisor.
//!
//! Vector layout (LoPAPR / prom_init's ibm_arch_vec): PVR pairs `{be32 mask, be32 value}` ended by a
//! pair with value bits outside its mask; then a byte "number of vectors - 1"; then each vector as a
//! byte "length - 1" followed by its bytes. Option-vector bytes are numbered from 1, bits from the
//! MSB.

use crate::devtree::DeviceTree;
use crate::hcall::{H_HARDWARE, H_PARAMETER};
use ppc::cpu::IsaLevel;
use ppc::{CpuModel, GuestMemory};
use std::fmt;

/// Logical PVR of the ISA 3.00 (POWER9) compatibility mode (for the client-interface tests).
#[cfg(test)]
pub const LOGICAL_PVR_3_00: u32 = 0x0f00_0005;

/// The processor CAS negotiates for: its model and the newest compatibility mode allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct CpuSpec {
    pub model: CpuModel,
    /// None: any mode up to the model's level, or raw mode (the real PVR).
    pub max_compat: Option<IsaLevel>,
}

impl CpuSpec {
    /// The processor described by the tree `fdt::build` made: the model from the cpu nodes'
    /// name ("PowerPC,POWER9@0"), the compatibility limit from their "cpu-version", which holds
    /// a logical PVR before CAS only when a limit is configured (the client interface has no
    /// other view of the machine configuration). A tree without cpu nodes means POWER9.
    pub(super) fn from_tree(tree: &DeviceTree) -> CpuSpec {
        let cpu = tree.by_type("cpu").first().copied();
        let model = cpu
            .and_then(|c| tree.node(c))
            .and_then(|n| n.name.strip_prefix("PowerPC,"))
            .and_then(|n| CpuModel::from_name(n.split('@').next().unwrap_or(n)))
            .unwrap_or(CpuModel::Power9);
        let max_compat = cpu
            .and_then(|c| tree.prop(c, "cpu-version"))
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .and_then(|v| IsaLevel::from_logical_pvr(u32::from_be_bytes(v)))
            .map(|l| l.min(model.isa_level()));
        CpuSpec { model, max_compat }
    }

    /// The newest level CAS may choose.
    fn limit(&self) -> IsaLevel {
        let own = self.model.isa_level();
        self.max_compat.map_or(own, |c| c.min(own))
    }
}

/// PVR pairs we read at most before giving up on finding the terminator.
const MAX_PVRS: usize = 512;

/// Option vector 5 bytes we may grant (byte number, bits).
const OV5_FORM1_AFFINITY: (usize, u8) = (5, 0x80);
const OV5_HP_EVT: (usize, u8) = (6, 0x04);
const OV5_INTC: usize = 23;
const OV5_XIVE_BOTH: u8 = 0x80;
const OV5_XIVE_EXPLOIT: u8 = 0x40;
const OV5_MMU: usize = 24;
const OV5_MMU_BOTH: u8 = 0x80;
const OV5_MMU_RADIX: u8 = 0x40;
const OV5_RADIX_EXT: usize = 26;
const OV5_RADIX_GTSE: u8 = 0x40;
/// Option vector 1 byte 3 bit 0: the guest supports ISA 3.00.
const OV1_ISA_3_00: (usize, u8) = (3, 0x80);

/// The negotiated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CasResult {
    /// The guest will use the radix MMU (the hypervisor sets LPCR[HR]); otherwise hash.
    pub radix: bool,
    /// Guest translation shootdown granted (radix only): the guest may use tlbie itself.
    pub gtse: bool,
    /// Logical PVR of the compatibility mode, or None for raw mode (the real PVR).
    pub compat_pvr: Option<u32>,
    /// The processor's real PVR.
    pub pvr: u32,
    /// The ISA level the guest runs at: the compatibility mode's, or the model's in raw mode.
    pub level: IsaLevel,
    /// The guest supports ISA 3.00 (option vector 1).
    pub isa300: bool,
    /// Negotiated option vector 5, byte 1 first, trailing zero bytes removed.
    pub ov5: Vec<u8>,
}

impl CasResult {
    /// The processor version the guest is told (cpu nodes' `cpu-version`).
    pub fn cpu_version(&self) -> u32 {
        self.compat_pvr.unwrap_or(self.pvr)
    }

    /// /chosen `ibm,architecture-vec-5`: a byte "length - 1", then the vector; Linux indexes it
    /// by option-vector byte number (e.g. `[24]` for the MMU).
    pub fn ov5_property(&self) -> Vec<u8> {
        let len = self.ov5.len().max(1);
        let mut v = Vec::with_capacity(len + 1);
        v.push((len - 1) as u8);
        v.extend_from_slice(&self.ov5);
        v.resize(len + 1, 0);
        v
    }
}

/// Why CAS failed (the guest sees a nonzero status and keeps the pre-CAS tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CasError {
    /// The vector runs outside RAM or has no PVR terminator.
    Unreadable,
    /// Neither the processor's PVR (when raw mode is allowed) nor a logical PVR of an allowed
    /// compatibility mode is listed.
    NoPvr,
    /// A required option vector (1 or 5) is absent.
    MissingVector(u8),
    /// Option vector 5 asks for hash and radix at once.
    BothMmu,
    /// The guest asks for XIVE, which this machine does not provide.
    Xive,
}

impl fmt::Display for CasError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            CasError::Unreadable => write!(f, "architecture vector unreadable"),
            CasError::NoPvr => write!(
                f,
                "the guest supports neither this processor nor an allowed compatibility mode"
            ),
            CasError::MissingVector(n) => write!(f, "option vector {n} missing"),
            CasError::BothMmu => write!(f, "guest asked for hash and radix MMU at once"),
            CasError::Xive => write!(f, "guest asked for XIVE; only XICS is available"),
        }
    }
}

impl CasError {
    /// The status CAS returns to the guest.
    pub(super) fn status(&self) -> i64 {
        match self {
            CasError::Unreadable | CasError::MissingVector(_) => H_PARAMETER,
            _ => H_HARDWARE,
        }
    }
}

fn rd8(mem: &GuestMemory, a: u64) -> Result<u8, CasError> {
    let mut b = [0u8; 1];
    mem.read(a, &mut b)
        .then_some(b[0])
        .ok_or(CasError::Unreadable)
}

fn rd32(mem: &GuestMemory, a: u64) -> Result<u32, CasError> {
    let mut b = [0u8; 4];
    mem.read(a, &mut b)
        .then(|| u32::from_be_bytes(b))
        .ok_or(CasError::Unreadable)
}

/// Option vector `n` (1-based) of the table at `table`, or None if the guest passed fewer.
fn vector(mem: &GuestMemory, table: u64, n: u8) -> Result<Option<Vec<u8>>, CasError> {
    let count = rd8(mem, table)? as u16 + 1;
    if n as u16 > count {
        return Ok(None);
    }
    let mut a = table.wrapping_add(1);
    for _ in 1..n {
        a = a.wrapping_add(rd8(mem, a)? as u64 + 2);
    }
    let mut v = vec![0u8; rd8(mem, a)? as usize + 1];
    if !mem.read(a.wrapping_add(1), &mut v) {
        return Err(CasError::Unreadable);
    }
    Ok(Some(v))
}

/// The value /chosen "ibm,arch-vec-5-platform-support" allows for option-vector-5 byte `byte`.
fn platform_allows(tree: &DeviceTree, byte: u8) -> u8 {
    tree.find("/chosen")
        .and_then(|c| tree.prop(c, "ibm,arch-vec-5-platform-support"))
        .and_then(|v| v.chunks_exact(2).find(|p| p[0] == byte).map(|p| p[1]))
        .unwrap_or(0)
}

/// Reads the guest's architecture vector at `vec` and decides the configuration for the
/// processor the tree describes.
pub(super) fn negotiate(
    mem: &GuestMemory,
    tree: &DeviceTree,
    vec: u64,
) -> Result<CasResult, CasError> {
    negotiate_for(mem, tree, vec, CpuSpec::from_tree(tree))
}

/// CAS for processor `cpu`: the newest compatibility mode the guest lists that is not newer than
/// the processor (or its configured limit) wins; raw mode is the fallback when the guest lists
/// the real PVR and no limit is configured (as QEMU).
pub(super) fn negotiate_for(
    mem: &GuestMemory,
    tree: &DeviceTree,
    vec: u64,
    cpu: CpuSpec,
) -> Result<CasResult, CasError> {
    let pvr_real = cpu.model.pvr();
    let limit = cpu.limit();
    let mut a = vec;
    let (mut raw, mut best, mut ended) = (false, None::<IsaLevel>, false);
    for _ in 0..MAX_PVRS {
        let (mask, pvr) = (rd32(mem, a)?, rd32(mem, a.wrapping_add(4))?);
        a = a.wrapping_add(8);
        if !mask & pvr != 0 {
            ended = true;
            break;
        }
        if pvr_real & mask == pvr & mask {
            raw = true;
        } else if let Some(l) = IsaLevel::from_logical_pvr(pvr).filter(|&l| l <= limit) {
            best = best.max(Some(l));
        }
    }
    if !ended {
        return Err(CasError::Unreadable);
    }
    // The architected mode is preferred, as on PowerVM and QEMU: it hides the exact processor.
    let (compat_pvr, level) = match (best, raw && cpu.max_compat.is_none()) {
        (Some(l), _) => (Some(l.logical_pvr()), l),
        (None, true) => (None, cpu.model.isa_level()),
        (None, false) => return Err(CasError::NoPvr),
    };

    let ov1 = vector(mem, a, 1)?.ok_or(CasError::MissingVector(1))?;
    let ov5 = vector(mem, a, 5)?.ok_or(CasError::MissingVector(5))?;
    let byte = |v: &[u8], k: usize| v.get(k - 1).copied().unwrap_or(0);
    if byte(&ov5, OV5_MMU) & OV5_MMU_BOTH != 0 {
        return Err(CasError::BothMmu);
    }
    let intc = byte(&ov5, OV5_INTC);
    let xive_ok = platform_allows(tree, OV5_INTC as u8) & (OV5_XIVE_BOTH | OV5_XIVE_EXPLOIT) != 0;
    if intc & OV5_XIVE_BOTH != 0 || (intc & OV5_XIVE_EXPLOIT != 0 && !xive_ok) {
        return Err(CasError::Xive);
    }
    let isa300 = byte(&ov1, OV1_ISA_3_00.0) & OV1_ISA_3_00.1 != 0;
    // Radix needs ISA 3.00 on both sides and the platform's consent (any of
    // radix-only/either/dynamic): never for a POWER8 or a mode below POWER9.
    let radix_ok =
        isa300 && level >= IsaLevel::V3_0 && platform_allows(tree, OV5_MMU as u8) & 0xc0 != 0;

    // What we can grant; the answer is what both sides support.
    let mut ours = [0u8; OV5_RADIX_EXT];
    ours[OV5_FORM1_AFFINITY.0 - 1] |= OV5_FORM1_AFFINITY.1;
    ours[OV5_HP_EVT.0 - 1] |= OV5_HP_EVT.1;
    if radix_ok {
        ours[OV5_MMU - 1] |= OV5_MMU_RADIX;
        ours[OV5_RADIX_EXT - 1] |= OV5_RADIX_GTSE;
    }
    let mut neg: Vec<u8> = (1..=ours.len())
        .map(|k| byte(&ov5, k) & ours[k - 1])
        .collect();
    while neg.last() == Some(&0) {
        neg.pop();
    }
    let radix = byte(&neg, OV5_MMU) & OV5_MMU_RADIX != 0;
    let gtse = radix && byte(&neg, OV5_RADIX_EXT) & OV5_RADIX_GTSE != 0;
    Ok(CasResult {
        radix,
        gtse,
        compat_pvr,
        pvr: pvr_real,
        level,
        isa300,
        ov5: neg,
    })
}

/// Publishes the outcome in the tree, where the guest (prom_init, then the kernel) reads it:
/// the negotiated vector in /chosen, and in the cpu nodes the processor version and the
/// `ibm,pa-features` of the negotiated level, without radix for a guest lacking ISA 3.00 (such
/// kernels may try radix if they see it).
pub(super) fn apply(tree: &mut DeviceTree, res: &CasResult) {
    if let Some(chosen) = tree.find("/chosen") {
        tree.set_prop(chosen, "ibm,architecture-vec-5", res.ov5_property());
    }
    let mut pa = crate::fdt::pa_features(res.level);
    if !res.isa300 {
        if let Some(b) = pa.get_mut(crate::fdt::PA_RADIX_BYTE) {
            *b &= !0x80;
        }
    }
    for cpu in tree.by_type("cpu") {
        tree.set_u32(cpu, "cpu-version", res.cpu_version());
        tree.set_prop(cpu, "ibm,pa-features", pa.clone());
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::machine::MachineConfig;
    use ppc::cpu::IsaLevel;

    /// An architecture vector laid out as Linux's prom_init builds it (ibm_arch_vec): PVRs of
    /// POWER6..POWER10, logical PVRs 3.1 down to 2.05, the 2.04 terminator; six option vectors.
    /// `mmu`, `radix_ext` and `intarch` are OV5 bytes 24, 26 and 23.
    pub(in crate::vof) fn linux_vector(mmu: u8, radix_ext: u8, intarch: u8) -> Vec<u8> {
        let pvrs: &[(u32, u32)] = &[
            (0xffff_0000, 0x003e_0000),
            (0xffff_0000, 0x003f_0000),
            (0xffff_0000, 0x004b_0000),
            (0xffff_0000, 0x004c_0000),
            (0xffff_0000, 0x004d_0000),
            (0xffff_0000, 0x004e_0000),
            (0xffff_0000, 0x0080_0000),
            (0xffff_ffff, 0x0f00_0006),
            (0xffff_ffff, 0x0f00_0005),
            (0xffff_ffff, 0x0f00_0004),
            (0xffff_ffff, 0x0f00_0003),
            (0xffff_ffff, 0x0f00_0002),
            (0xffff_fffe, 0x0f00_0001),
        ];
        let mut ov5 = [0u8; 26];
        let mut set = |k: usize, v: u8| ov5[k - 1] = v;
        set(2, 0xf3); // LPAR, SPLPAR, DRCONF memory, large pages, donate, MSI
        set(4, 0xc0); // CMO, XCMO
        set(5, 0xe0); // FORM1 and FORM2 affinity, PRRN
        set(6, 0x05); // hot-plug events, HPT resizing
        set(12, 0x08); // max_cpus (be32 in bytes 9..12) = 8
        set(17, 0xe0); // platform facilities
        set(21, 1); // sub-processors
        set(22, 0xc0); // drmem v2, drc-info
        set(23, intarch);
        set(24, mmu);
        set(26, radix_ext);
        let mut ov2 = vec![0x20, 0, 0];
        for _ in 0..5 {
            ov2.extend([0xff; 4]);
        }
        ov2.extend(512u32.to_be_bytes());
        ov2.extend([0xff; 4]);
        ov2.extend([0, 48]);
        let vectors: Vec<Vec<u8>> = vec![
            vec![0x00, 0xff, 0xc0], // ISA 2.00-2.07, 3.00 and 3.1
            ov2,
            vec![0x00, 0xe0], // FP, VMX, DFP
            vec![0x00, 0x01],
            ov5.to_vec(),
            vec![0x00, 0x00, 0x02], // Linux
        ];
        arch_vector(pvrs, &vectors)
    }

    fn arch_vector(pvrs: &[(u32, u32)], vectors: &[Vec<u8>]) -> Vec<u8> {
        let mut v = Vec::new();
        for (mask, pvr) in pvrs {
            v.extend(mask.to_be_bytes());
            v.extend(pvr.to_be_bytes());
        }
        v.push((vectors.len() - 1) as u8);
        for vec in vectors {
            v.push((vec.len() - 1) as u8);
            v.extend(vec);
        }
        v
    }

    const VEC: u64 = 0x1000;

    fn setup(vector: &[u8]) -> (GuestMemory, DeviceTree) {
        setup_cpu(vector, CpuModel::Power9, None)
    }

    /// Memory holding `vector` and the tree of a machine with that processor configuration.
    fn setup_cpu(
        vector: &[u8],
        model: CpuModel,
        max_compat: Option<IsaLevel>,
    ) -> (GuestMemory, DeviceTree) {
        let mem = GuestMemory::new(1 << 20).expect("mem");
        assert!(mem.write(VEC, vector));
        let cfg = MachineConfig {
            ram_size: 1 << 20,
            smp: 2,
            cpu_model: model,
            max_compat,
            ..Default::default()
        };
        (mem, crate::fdt::build(&cfg, None))
    }

    #[test]
    fn radix_guest_gets_radix_gtse_and_the_300_mode() {
        let (mem, mut tree) = setup(&linux_vector(0x40, 0x40, 0x00));
        let res = negotiate(&mem, &tree, VEC).expect("CAS");
        assert_eq!(res.compat_pvr, Some(0x0f00_0005));
        assert!(res.radix && res.gtse && res.isa300);
        // Both sides: FORM1 affinity (byte 5 bit 0), hot-plug events (byte 6 bit 5), radix
        // (byte 24 bit 1), radix GTSE (byte 26 bit 1); everything else the guest offered is
        // not provided here.
        let mut want = vec![0u8; 26];
        want[4] = 0x80;
        want[5] = 0x04;
        want[23] = 0x40;
        want[25] = 0x40;
        assert_eq!(res.ov5, want);

        apply(&mut tree, &res);
        let chosen = tree.find("/chosen").expect("chosen");
        let prop = tree.prop(chosen, "ibm,architecture-vec-5").expect("vec5");
        // Length byte 25 (26 bytes), then byte k at index k: what Linux's early_check_vec5 reads.
        assert_eq!(prop.len(), 27);
        assert_eq!(
            (prop[0], prop[5], prop[6], prop[24], prop[26]),
            (25, 0x80, 0x04, 0x40, 0x40)
        );
        for cpu in tree.by_type("cpu") {
            assert_eq!(tree.prop(cpu, "cpu-version"), Some(&[0x0f, 0, 0, 5][..]));
            let pa = tree.prop(cpu, "ibm,pa-features").expect("pa");
            assert_eq!(pa[crate::fdt::PA_RADIX_BYTE] & 0x80, 0x80);
        }
    }

    #[test]
    fn hash_guest_and_hash_only_platform() {
        // The guest asks for hash (OV5 byte 24 = 0): no MMU bits in the answer, which Linux
        // reads as hash since the property is shorter than 25 bytes.
        let (mem, tree) = setup(&linux_vector(0x00, 0x00, 0x00));
        let res = negotiate(&mem, &tree, VEC).expect("CAS");
        assert!(!res.radix && !res.gtse);
        assert_eq!(res.ov5_property(), [5, 0, 0, 0, 0, 0x80, 0x04]);

        // The platform offers hash only: a radix request is not granted.
        let (mem, mut tree) = setup(&linux_vector(0x40, 0x40, 0x00));
        crate::fdt::set_mmu_support(&mut tree, crate::fdt::OV5_MMU_HASH_ONLY);
        let res = negotiate(&mem, &tree, VEC).expect("CAS");
        assert!(!res.radix && !res.gtse);
    }

    #[test]
    fn pvr_selection() {
        // Raw POWER9 listed but not the 3.00 logical PVR: raw mode, the real PVR.
        let v = arch_vector(
            &[(0xffff_0000, 0x004e_0000), (0xffff_fffe, 0x0f00_0001)],
            &[vec![0, 0, 0x80], vec![0; 26]],
        );
        // Only two vectors: OV5 missing.
        let (mem, tree) = setup(&v);
        assert_eq!(negotiate(&mem, &tree, VEC), Err(CasError::MissingVector(5)));
        let v = arch_vector(
            &[(0xffff_0000, 0x004e_0000), (0xffff_fffe, 0x0f00_0001)],
            &[vec![0, 0, 0x80], vec![0], vec![0], vec![0], vec![0; 26]],
        );
        let (mem, mut tree) = setup(&v);
        let res = negotiate(&mem, &tree, VEC).expect("CAS");
        assert_eq!(res.compat_pvr, None);
        assert_eq!(res.level, IsaLevel::V3_0);
        assert_eq!(res.cpu_version(), 0x004e_1202);
        apply(&mut tree, &res);
        let cpu0 = tree.find("/cpus/PowerPC,POWER9@0").expect("cpu");
        assert_eq!(
            tree.prop(cpu0, "cpu-version"),
            Some(&0x004e_1202u32.to_be_bytes()[..])
        );

        // A POWER8-only kernel (POWER8 PVR and the 2.07 mode) on a POWER9: the POWER8 mode,
        // hash only.
        let v = arch_vector(
            &[
                (0xffff_0000, 0x004d_0000),
                (0xffff_ffff, 0x0f00_0004),
                (0xffff_fffe, 0x0f00_0001),
            ],
            &[vec![0, 0xff, 0], vec![0], vec![0], vec![0], vec![0; 26]],
        );
        let (mem, tree) = setup(&v);
        let res = negotiate(&mem, &tree, VEC).expect("CAS");
        assert_eq!(
            (res.compat_pvr, res.level),
            (Some(0x0f00_0004), IsaLevel::V2_07)
        );
        assert!(!res.radix);

        // A list with only the POWER10 mode fails on a POWER9.
        let v = arch_vector(
            &[(0xffff_ffff, 0x0f00_0006), (0xffff_fffe, 0x0f00_0001)],
            &[vec![0, 0xff, 0xc0], vec![0], vec![0], vec![0], vec![0; 26]],
        );
        let (mem, tree) = setup(&v);
        assert_eq!(negotiate(&mem, &tree, VEC), Err(CasError::NoPvr));
        assert_eq!(CasError::NoPvr.status(), H_HARDWARE);
    }

    #[test]
    fn pre_300_guest_loses_radix() {
        // OV1 without ISA 3.00: no radix even if asked, and pa-features hides it.
        let v = arch_vector(
            &[(0xffff_0000, 0x004e_0000), (0xffff_fffe, 0x0f00_0001)],
            &[vec![0, 0xff, 0x00], vec![0], vec![0], vec![0], {
                let mut o = vec![0; 26];
                o[23] = 0x40;
                o[25] = 0x40;
                o
            }],
        );
        let (mem, mut tree) = setup(&v);
        let res = negotiate(&mem, &tree, VEC).expect("CAS");
        assert!(!res.isa300 && !res.radix);
        apply(&mut tree, &res);
        for cpu in tree.by_type("cpu") {
            let pa = tree.prop(cpu, "ibm,pa-features").expect("pa");
            assert_eq!(pa[crate::fdt::PA_RADIX_BYTE] & 0x80, 0);
        }
    }

    #[test]
    fn invalid_requests() {
        let (mem, tree) = setup(&linux_vector(0x80, 0x00, 0x00));
        assert_eq!(negotiate(&mem, &tree, VEC), Err(CasError::BothMmu));
        let (mem, tree) = setup(&linux_vector(0x40, 0x40, 0x40));
        assert_eq!(negotiate(&mem, &tree, VEC), Err(CasError::Xive));
        let (mem, tree) = setup(&linux_vector(0x40, 0x40, 0x80));
        assert_eq!(negotiate(&mem, &tree, VEC), Err(CasError::Xive));
        // A vector at the end of RAM runs out of it.
        let v = linux_vector(0x40, 0x40, 0);
        let mem = GuestMemory::new(1 << 20).expect("mem");
        let at = (1 << 20) - 40;
        assert!(mem.write(at, &v[..40]));
        let tree = crate::fdt::build(&MachineConfig::default(), None);
        assert_eq!(negotiate(&mem, &tree, at), Err(CasError::Unreadable));
        assert_eq!(
            negotiate(&mem, &tree, u64::MAX - 3),
            Err(CasError::Unreadable)
        );
        // 512 pairs without a terminator.
        let mut v = Vec::new();
        for _ in 0..600 {
            v.extend(0xffff_ffffu32.to_be_bytes());
            v.extend(0x1234_5678u32.to_be_bytes());
        }
        let (mem, tree) = setup(&v);
        assert_eq!(negotiate(&mem, &tree, VEC), Err(CasError::Unreadable));
        assert_eq!(CasError::Unreadable.status(), H_PARAMETER);
    }

    #[test]
    fn empty_vector_property() {
        let res = CasResult {
            radix: false,
            gtse: false,
            compat_pvr: None,
            pvr: 0x004e_1202,
            level: IsaLevel::V3_0,
            isa300: true,
            ov5: Vec::new(),
        };
        assert_eq!(res.ov5_property(), [0, 0]);
    }

    /// The radix bit of the cpu nodes' pa-features (absent when the property is too short).
    fn radix_bit(tree: &DeviceTree) -> Option<bool> {
        let cpu = tree.by_type("cpu")[0];
        let pa = tree.prop(cpu, "ibm,pa-features").expect("pa");
        pa.get(crate::fdt::PA_RADIX_BYTE).map(|b| b & 0x80 != 0)
    }

    fn cpu_version(tree: &DeviceTree) -> u32 {
        let cpu = tree.by_type("cpu")[0];
        let v = tree.prop(cpu, "cpu-version").expect("cpu-version");
        u32::from_be_bytes(v.try_into().expect("one cell"))
    }

    #[test]
    fn the_tree_describes_the_processor() {
        for model in CpuModel::ALL {
            let (_, tree) = setup_cpu(&[], model, None);
            let spec = CpuSpec::from_tree(&tree);
            assert_eq!(
                spec,
                CpuSpec {
                    model,
                    max_compat: None
                }
            );
            assert_eq!(cpu_version(&tree), model.pvr());
        }
        let (_, tree) = setup_cpu(&[], CpuModel::Power10, Some(IsaLevel::V2_07));
        assert_eq!(
            CpuSpec::from_tree(&tree),
            CpuSpec {
                model: CpuModel::Power10,
                max_compat: Some(IsaLevel::V2_07)
            }
        );
        assert_eq!(cpu_version(&tree), 0x0f00_0004);
        assert_eq!(
            CpuSpec::from_tree(&DeviceTree::new()).model,
            CpuModel::Power9
        );
    }

    #[test]
    fn compat_power8_on_power9_gives_the_2_07_mode_and_hash() {
        // A Linux that wants radix (OV5 byte 24 = 0x40, GTSE).
        let (mem, mut tree) = setup_cpu(
            &linux_vector(0x40, 0x40, 0),
            CpuModel::Power9,
            Some(IsaLevel::V2_07),
        );
        // Before CAS the tree offers hash only and a 2.07 processor without a radix bit.
        let chosen = tree.find("/chosen").expect("chosen");
        let support = tree
            .prop(chosen, "ibm,arch-vec-5-platform-support")
            .expect("ov5");
        assert_eq!(support[3], crate::fdt::OV5_MMU_HASH_ONLY);
        assert_eq!(radix_bit(&tree), None);
        let res = negotiate(&mem, &tree, VEC).expect("CAS");
        assert_eq!(res.compat_pvr, Some(0x0f00_0004));
        assert_eq!(res.level, IsaLevel::V2_07);
        assert!(!res.radix && !res.gtse);
        apply(&mut tree, &res);
        assert_eq!(cpu_version(&tree), 0x0f00_0004);
        assert_eq!(radix_bit(&tree), None);
        let cpu = tree.by_type("cpu")[0];
        assert_eq!(tree.prop(cpu, "ibm,pa-features").map(|p| p.len()), Some(26));
    }

    #[test]
    fn highest_common_mode_per_model() {
        // Linux lists every mode from 2.05 to 3.1: each model gets its own.
        for (model, pvr, radix) in [
            (CpuModel::Power7, 0x0f00_0003, false),
            (CpuModel::Power8, 0x0f00_0004, false),
            (CpuModel::Power9, 0x0f00_0005, true),
            (CpuModel::Power10, 0x0f00_0006, true),
        ] {
            let (mem, mut tree) = setup_cpu(&linux_vector(0x40, 0x40, 0), model, None);
            let res = negotiate(&mem, &tree, VEC).expect("CAS");
            assert_eq!(res.compat_pvr, Some(pvr), "{model:?}");
            assert_eq!(res.radix, radix, "{model:?}: radix only from ISA 3.0");
            assert_eq!(res.pvr, model.pvr());
            apply(&mut tree, &res);
            assert_eq!(cpu_version(&tree), pvr);
            assert_eq!(radix_bit(&tree), radix.then_some(true));
        }
        // A POWER8 refuses radix even on a platform that would allow it.
        let (mem, mut tree) = setup_cpu(&linux_vector(0x40, 0x40, 0), CpuModel::Power8, None);
        crate::fdt::set_mmu_support(&mut tree, crate::fdt::OV5_MMU_DYNAMIC);
        assert!(!negotiate(&mem, &tree, VEC).expect("CAS").radix);
        // A POWER10 limited to the POWER9 mode.
        let (mem, tree) = setup_cpu(
            &linux_vector(0x40, 0x40, 0),
            CpuModel::Power10,
            Some(IsaLevel::V3_0),
        );
        let res = negotiate(&mem, &tree, VEC).expect("CAS");
        assert_eq!((res.compat_pvr, res.radix), (Some(0x0f00_0005), true));
        // A guest whose newest mode is 3.00, on a POWER10.
        let v = arch_vector(
            &[
                (0xffff_ffff, 0x0f00_0005),
                (0xffff_ffff, 0x0f00_0004),
                (0xffff_fffe, 0x0f00_0001),
            ],
            &[vec![0, 0xff, 0x80], vec![0], vec![0], vec![0], vec![0; 26]],
        );
        let (mem, tree) = setup_cpu(&v, CpuModel::Power10, None);
        let res = negotiate(&mem, &tree, VEC).expect("CAS");
        assert_eq!(
            (res.compat_pvr, res.level),
            (Some(0x0f00_0005), IsaLevel::V3_0)
        );
    }

    #[test]
    fn raw_mode_only_without_a_compat_limit() {
        // The guest lists the real POWER10 PVR only.
        let v = arch_vector(
            &[(0xffff_0000, 0x0080_0000), (0xffff_fffe, 0x0f00_0001)],
            &[vec![0, 0xff, 0xc0], vec![0], vec![0], vec![0], vec![0; 26]],
        );
        let (mem, tree) = setup_cpu(&v, CpuModel::Power10, None);
        let res = negotiate(&mem, &tree, VEC).expect("CAS");
        assert_eq!((res.compat_pvr, res.level), (None, IsaLevel::V3_1));
        assert_eq!(res.cpu_version(), 0x0080_1200);
        let (mem, tree) = setup_cpu(&v, CpuModel::Power10, Some(IsaLevel::V3_1));
        assert_eq!(negotiate(&mem, &tree, VEC), Err(CasError::NoPvr));
        // Another processor's PVR is not ours.
        let (mem, tree) = setup_cpu(&v, CpuModel::Power9, None);
        assert_eq!(negotiate(&mem, &tree, VEC), Err(CasError::NoPvr));
    }
}
