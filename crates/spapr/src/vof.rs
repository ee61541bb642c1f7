//! The built-in Open Firmware client interface (VOF style: no firmware blob). The kernel's
//! prom_init calls the client-interface entry, a tiny stub that makes the KVMPPC_H_VOF_CLIENT hcall;
//! we answer finddevice/getprop/…/claim/call-method (incl. ibm,client-architecture-support) from
//! the live device tree.
//!
//! Calling convention (IEEE 1275 client interface, as prom_init uses it): r3 holds the real address
//! of a big-endian `prom_args` block `{service, nargs, nret, args[10]}`; the returns follow the
//! arguments. The stub moves that address to r4 and makes the hcall; the hcall returns 0 when the
//! service ran (its own failure, usually -1, is in the first return cell) and H_PARAMETER when the
//! block itself is unusable, which prom_init's call_prom turns into PROM_ERROR.
//!
//! Locking: the hcall takes `m.vof` then `m.tree`; other users must take them in that order.

#[path = "vof_cas.rs"]
mod cas;

pub use cas::CasResult;

use crate::devtree::{DeviceTree, NodeId};
use crate::hcall::{HcallFn, H_HARDWARE, H_PARAMETER, H_SUCCESS};
use crate::machine::{Machine, RunState};
use ppc::{Cpu, GuestMemory};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Instant;

/// The client-interface hcall (QEMU's number, in the KVM-private range).
pub const KVMPPC_H_VOF_CLIENT: u64 = 0xf005;

/// The ihandle of the console instance, opened at install and published as /chosen "stdout".
pub const STDOUT_IHANDLE: u32 = IHANDLE_BASE;

/// First ihandle; kept far from phandles (node index + 1) so the two are never confused.
const IHANDLE_BASE: u32 = 0x1000_0000;

/// The "failure" value of a client-interface return cell.
pub const PROM_ERROR: u32 = u32::MAX;

/// Argument + return cells in a prom_args block.
const MAX_CELLS: usize = 10;
/// Longest strings we read from the guest, NUL included.
const MAX_SERVICE: usize = 64;
const MAX_PROPNAME: usize = 64;
const MAX_PATH: usize = 256;
const MAX_METHOD: usize = 256;
/// Largest property value setprop accepts, and the total the guest may add that way.
const MAX_SETPROP: u32 = 64 * 1024;
const SETPROP_BUDGET: usize = 4 << 20;
/// Open instances at a time.
const MAX_INSTANCES: usize = 1024;
/// Claimed ranges kept at a time (prom_init makes a few dozen): bounds memory and the linear
/// overlap search a guest could otherwise make quadratic.
const MAX_CLAIMS: usize = 1024;

/// The firmware area: the entry stub, then the stack, in one 64 KiB block placed below 256 MiB
/// (and never at 0: the entry address must be nonzero, and low memory holds the vectors).
const FW_AREA: u64 = 0x1_0000;
const FW_FLOOR: u64 = 0x1_0000;
const FW_CEILING: u64 = 256 << 20;
/// Room left above the initial r1: the ABI lets a callee store into its caller's frame header.
const STACK_HEADROOM: u64 = 0x100;
/// Claims are returned in 32-bit cells.
const CLAIM_LIMIT: u64 = 1 << 32;

/// The entry stub, big-endian (prom_init calls it in 32-bit big-endian mode):
/// `mr r4,r3; lis r3,0; ori r3,r3,0xf005; sc 1; blr`.
pub const STUB: [u32; 5] = [
    0x7c64_1b78,
    0x3c60_0000,
    0x6063_0000 | KVMPPC_H_VOF_CLIENT as u32,
    0x4400_0022,
    0x4e80_0020,
];

/// Where the boot flow enters the kernel: r5 = `ci_entry`, r1 = `stack_top`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VofEntry {
    pub ci_entry: u64,
    pub stack_top: u64,
}

/// What the client interface needs from the machine besides memory and the tree.
pub trait VofHost {
    /// Console output (the stdout instance).
    fn console_write(&self, data: &[u8]);
    /// The client called `exit`.
    fn exit(&self);
}

impl VofHost for Machine {
    fn console_write(&self, data: &[u8]) {
        self.vty.write(data);
    }
    fn exit(&self) {
        self.request(RunState::Terminated("OF exit".to_string()));
    }
}

/// The prom_args block could not be read or answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// A cell, the service name or a return cell is outside guest RAM.
    BadAddress,
    /// nargs + nret exceed the block.
    TooManyCells,
    /// The service name is not a NUL-terminated string of at most 63 bytes.
    BadServiceName,
}

/// The client interface state: memory claims, open instances, the CAS outcome.
pub struct Vof {
    ram_size: u64,
    /// Claims must end at or below this (RAM, and 4 GiB since claims return a 32-bit cell).
    top: u64,
    /// Lowest address of an aligned (allocating) claim: above the kernel image.
    alloc_floor: u64,
    /// Claimed ranges [start, end), sorted and disjoint.
    claims: Vec<(u64, u64)>,
    instances: BTreeMap<u32, NodeId>,
    next_ihandle: u32,
    cas: Option<CasResult>,
    epoch: Instant,
    setprop_left: usize,
    quiesced: bool,
}

impl Default for Vof {
    fn default() -> Self {
        Vof::new(u64::MAX)
    }
}

/// Services we implement, with the number of arguments each needs.
const SERVICES: &[(&str, usize)] = &[
    ("finddevice", 1),
    ("getprop", 4),
    ("getproplen", 2),
    ("nextprop", 3),
    ("setprop", 4),
    ("peer", 1),
    ("child", 1),
    ("parent", 1),
    ("instance-to-package", 1),
    ("package-to-path", 3),
    ("instance-to-path", 3),
    ("canon", 3),
    ("open", 1),
    ("close", 1),
    ("write", 3),
    ("read", 3),
    ("seek", 3),
    ("claim", 3),
    ("release", 2),
    ("milliseconds", 0),
    ("quiesce", 0),
    ("exit", 0),
    ("call-method", 2),
    ("test", 1),
    ("interpret", 1),
    ("boot", 0),
    ("enter", 0),
    ("chain", 0),
];

fn align_up(v: u64, align: u64) -> Option<u64> {
    v.checked_add(align - 1).map(|x| x & !(align - 1))
}

fn read_u32(mem: &GuestMemory, addr: u64) -> Option<u32> {
    let mut b = [0u8; 4];
    mem.read(addr, &mut b).then(|| u32::from_be_bytes(b))
}

/// Reads a NUL-terminated guest string of at most `max` bytes (NUL included); None if it is
/// longer, not UTF-8, or runs outside RAM.
fn read_str(mem: &GuestMemory, addr: u64, max: usize) -> Option<String> {
    let mut out = Vec::new();
    let mut a = addr;
    while out.len() < max {
        let avail = usize::try_from(mem.size().checked_sub(a)?).unwrap_or(usize::MAX);
        let n = (max - out.len()).min(64).min(avail);
        if n == 0 {
            return None;
        }
        let mut chunk = [0u8; 64];
        if !mem.read(a, &mut chunk[..n]) {
            return None;
        }
        if let Some(p) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..p]);
            return String::from_utf8(out).ok();
        }
        out.extend_from_slice(&chunk[..n]);
        a += n as u64;
    }
    None
}

/// Node of a device specifier: an absolute path or an alias from /aliases, with device arguments
/// (":args") dropped and unit addresses compared in lower case, as OF prints them.
fn resolve(tree: &DeviceTree, spec: &str) -> Option<NodeId> {
    let full: Cow<str> = if spec.starts_with('/') {
        Cow::Borrowed(spec)
    } else {
        let (alias, rest) = spec.split_once('/').unwrap_or((spec, ""));
        let alias = alias.split(':').next().unwrap_or("");
        let aliases = tree.find("/aliases")?;
        let target = tree.prop(aliases, alias)?;
        let target = target.split(|&b| b == 0).next().unwrap_or(&[]);
        let target = std::str::from_utf8(target).ok()?;
        if !target.starts_with('/') {
            return None;
        }
        Cow::Owned(format!("{target}/{rest}"))
    };
    let mut norm = String::with_capacity(full.len());
    for comp in full.split('/').filter(|c| !c.is_empty()) {
        let comp = comp.split(':').next().unwrap_or("");
        norm.push('/');
        match comp.split_once('@') {
            Some((name, unit)) => {
                norm.push_str(name);
                norm.push('@');
                norm.push_str(&unit.to_ascii_lowercase());
            }
            None => norm.push_str(comp),
        }
    }
    if norm.is_empty() {
        norm.push('/');
    }
    tree.find(&norm)
}

fn phandle(tree: &DeviceTree, id: NodeId) -> u32 {
    tree.node(id).map_or(0, |n| n.phandle)
}

fn is_phandle_prop(name: &str) -> bool {
    matches!(name, "phandle" | "ibm,phandle" | "linux,phandle")
}

/// A property value as the client sees it: the stored one, else a "name" made from the node name
/// without its unit address, else the node's phandle under the phandle names.
fn prop_value<'t>(tree: &'t DeviceTree, id: NodeId, name: &str) -> Option<Cow<'t, [u8]>> {
    if let Some(v) = tree.prop(id, name) {
        return Some(Cow::Borrowed(v));
    }
    let node = tree.node(id)?;
    if name == "name" {
        let base = node.name.split('@').next().unwrap_or("");
        let mut v = base.as_bytes().to_vec();
        v.push(0);
        return Some(Cow::Owned(v));
    }
    if is_phandle_prop(name) {
        return Some(Cow::Owned(node.phandle.to_be_bytes().to_vec()));
    }
    None
}

impl Vof {
    /// A client interface for a machine with `ram_size` bytes of RAM.
    pub fn new(ram_size: u64) -> Vof {
        Vof {
            ram_size,
            top: ram_size.min(CLAIM_LIMIT),
            alloc_floor: FW_FLOOR,
            claims: Vec::new(),
            instances: BTreeMap::new(),
            next_ihandle: IHANDLE_BASE,
            cas: None,
            epoch: Instant::now(),
            setprop_left: SETPROP_BUDGET,
            quiesced: false,
        }
    }

    /// Places the entry stub and the firmware stack in guest RAM and pre-claims them, the kernel
    /// image (`kernel` = its [low, high) range, as `loader::Kernel` reports it) and the initrd
    /// ((base, size)); opens the console as the stdout instance. Resets any previous state (a
    /// machine reset installs again). Fails only if RAM cannot hold the stub.
    pub fn install(
        &mut self,
        mem: &GuestMemory,
        tree: &DeviceTree,
        kernel: (u64, u64),
        initrd: Option<(u64, u64)>,
    ) -> Result<VofEntry, String> {
        *self = Vof::new(self.ram_size);
        self.top = self.ram_size.min(mem.size()).min(CLAIM_LIMIT);
        let (klow, khigh) = kernel;
        if khigh > klow {
            self.claim(klow, khigh - klow, 0)
                .ok_or("the kernel image is outside claimable RAM")?;
            self.alloc_floor = self.alloc_floor.max(khigh);
        }
        if let Some((ibase, isize)) = initrd.filter(|&(_, s)| s > 0) {
            self.claim(ibase, isize, 0)
                .ok_or("the initrd overlaps the kernel or is outside claimable RAM")?;
        }
        let ceiling = FW_CEILING.min(self.top);
        let mut base = FW_FLOOR;
        loop {
            let end = base + FW_AREA;
            if end > ceiling {
                return Err("no free 64 KiB block below 256 MiB for the client interface".into());
            }
            match self.overlap(base, end) {
                None => break,
                Some(e) => base = align_up(e, FW_AREA).ok_or("no room for the stub")?,
            }
        }
        self.insert_claim(base, base + FW_AREA);
        let stub: Vec<u8> = STUB.iter().flat_map(|w| w.to_be_bytes()).collect();
        let stack_top = base + FW_AREA - STACK_HEADROOM;
        // A zero back chain above the initial frame ends stack walks.
        if !mem.write(base, &stub) || !mem.fill(stack_top, STACK_HEADROOM, 0) {
            return Err("cannot write the client-interface stub".into());
        }
        self.open_stdout(tree);
        Ok(VofEntry {
            ci_entry: base,
            stack_top,
        })
    }

    /// Registers the console instance under the ihandle /chosen "stdout" names.
    fn open_stdout(&mut self, tree: &DeviceTree) {
        let Some(chosen) = tree.find("/chosen") else {
            return;
        };
        let path = ["stdout-path", "linux,stdout-path"]
            .iter()
            .find_map(|p| tree.prop(chosen, p))
            .and_then(|v| std::str::from_utf8(v.split(|&b| b == 0).next()?).ok());
        let Some(node) = path.and_then(|p| resolve(tree, p)) else {
            return;
        };
        let ih = tree
            .prop(chosen, "stdout")
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map_or(STDOUT_IHANDLE, u32::from_be_bytes);
        if ih != 0 && ih != PROM_ERROR {
            self.instances.insert(ih, node);
            self.next_ihandle = self.next_ihandle.max(ih.saturating_add(1));
        }
    }

    /// The outcome of ibm,client-architecture-support, once the guest called it. Without CAS a
    /// guest runs hash in raw mode.
    pub fn cas_result(&self) -> Option<CasResult> {
        self.cas.clone()
    }

    /// Whether the client called `quiesce` (it no longer uses the client interface).
    pub fn quiesced(&self) -> bool {
        self.quiesced
    }

    /// End of a claim overlapping [start, end), if any.
    fn overlap(&self, start: u64, end: u64) -> Option<u64> {
        self.claims
            .iter()
            .find(|&&(s, e)| s < end && start < e)
            .map(|&(_, e)| e)
    }

    fn insert_claim(&mut self, start: u64, end: u64) {
        let i = self.claims.partition_point(|&(s, _)| s < start);
        self.claims.insert(i, (start, end));
    }

    /// OF `claim`: with `align` 0, exactly [virt, virt+size); otherwise the lowest free
    /// `align`-aligned range above the kernel (virt ignored). None if impossible or overlapping.
    pub fn claim(&mut self, virt: u64, size: u64, align: u64) -> Option<u64> {
        if size == 0 || self.claims.len() >= MAX_CLAIMS {
            return None;
        }
        let base = if align == 0 {
            let end = virt.checked_add(size)?;
            if end > self.top || self.overlap(virt, end).is_some() {
                return None;
            }
            virt
        } else {
            if !align.is_power_of_two() {
                return None;
            }
            let mut b = align_up(self.alloc_floor, align)?;
            loop {
                let end = b.checked_add(size)?;
                if end > self.top {
                    return None;
                }
                match self.overlap(b, end) {
                    None => break b,
                    Some(e) => b = align_up(e, align)?,
                }
            }
        };
        self.insert_claim(base, base + size);
        Some(base)
    }

    /// OF `release`: frees [virt, virt+size) from whatever claims cover it.
    pub fn release(&mut self, virt: u64, size: u64) {
        let end = virt.saturating_add(size);
        let mut kept = Vec::with_capacity(self.claims.len() + 1);
        for &(s, e) in &self.claims {
            if e <= virt || s >= end {
                kept.push((s, e));
                continue;
            }
            if s < virt {
                kept.push((s, virt));
            }
            if e > end {
                kept.push((end, e));
            }
        }
        // Releasing the middle of a claim splits it: refuse a split past the bound.
        if kept.len() <= MAX_CLAIMS {
            self.claims = kept;
        }
    }

    /// Claimed ranges [start, end), sorted.
    pub fn claims(&self) -> &[(u64, u64)] {
        &self.claims
    }

    /// Runs the client-interface call whose prom_args block is at real address `args`.
    pub fn client_call(
        &mut self,
        mem: &GuestMemory,
        tree: &mut DeviceTree,
        host: &dyn VofHost,
        args: u64,
    ) -> Result<(), CallError> {
        let rd = |a: u64| read_u32(mem, a).ok_or(CallError::BadAddress);
        let service = rd(args)?;
        let nargs = rd(args + 4)? as usize;
        let nret = rd(args + 8)? as usize;
        if nargs > MAX_CELLS || nret > MAX_CELLS - nargs {
            return Err(CallError::TooManyCells);
        }
        let mut argv = [0u32; MAX_CELLS];
        for (i, a) in argv.iter_mut().enumerate().take(nargs) {
            *a = rd(args + 12 + 4 * i as u64)?;
        }
        let name = read_str(mem, service as u64, MAX_SERVICE).ok_or(CallError::BadServiceName)?;
        let mut rets = [0u32; MAX_CELLS];
        let mut cx = Cx { mem, tree, host };
        self.service(&mut cx, &name, &argv[..nargs], &mut rets);
        let at = args + 12 + 4 * nargs as u64;
        for (i, r) in rets.iter().enumerate().take(nret) {
            if !mem.write(at + 4 * i as u64, &r.to_be_bytes()) {
                return Err(CallError::BadAddress);
            }
        }
        Ok(())
    }

    /// Dispatches one service; `r[0]` is its first return cell.
    fn service(&mut self, cx: &mut Cx, name: &str, a: &[u32], r: &mut [u32; MAX_CELLS]) {
        let Some(&(_, need)) = SERVICES.iter().find(|(n, _)| *n == name) else {
            self.log_unknown(name);
            r[0] = PROM_ERROR;
            return;
        };
        if a.len() < need {
            r[0] = PROM_ERROR;
            return;
        }
        let tree = &mut *cx.tree;
        let mem = cx.mem;
        r[0] = match name {
            "finddevice" => read_str(mem, a[0] as u64, MAX_PATH)
                .and_then(|p| resolve(tree, &p))
                .map_or(PROM_ERROR, |id| phandle(tree, id)),
            "getprop" => getprop(mem, tree, a[0], a[1], Some((a[2], a[3]))),
            "getproplen" => getprop(mem, tree, a[0], a[1], None),
            "nextprop" => nextprop(mem, tree, a[0], a[1], a[2]),
            "setprop" => self.setprop(mem, tree, a[0], a[1], a[2], a[3]),
            "peer" => {
                let next = if a[0] == 0 {
                    Some(DeviceTree::ROOT)
                } else {
                    tree.by_phandle(a[0]).and_then(|id| tree.next_sibling(id))
                };
                next.map_or(0, |id| phandle(tree, id))
            }
            "child" => tree
                .by_phandle(a[0])
                .and_then(|id| tree.first_child(id))
                .map_or(0, |id| phandle(tree, id)),
            "parent" => tree
                .by_phandle(a[0])
                .and_then(|id| tree.parent(id))
                .map_or(0, |id| phandle(tree, id)),
            "instance-to-package" => self
                .instances
                .get(&a[0])
                .map_or(PROM_ERROR, |&id| phandle(tree, id)),
            "package-to-path" => match tree.by_phandle(a[0]) {
                Some(id) => put_str(mem, a[1], a[2], &tree.path(id)),
                None => PROM_ERROR,
            },
            "instance-to-path" => match self.instances.get(&a[0]) {
                Some(&id) => put_str(mem, a[1], a[2], &tree.path(id)),
                None => PROM_ERROR,
            },
            "canon" => match read_str(mem, a[0] as u64, MAX_PATH).and_then(|p| resolve(tree, &p)) {
                Some(id) => put_str(mem, a[1], a[2], &tree.path(id)),
                None => PROM_ERROR,
            },
            "open" => self.open(mem, tree, a[0]),
            "close" => {
                self.instances.remove(&a[0]);
                0
            }
            "write" => self.write(cx.mem, &*cx.tree, cx.host, a[0], a[1], a[2]),
            "read" => {
                // No console input before the OS runs: zero bytes read.
                if self.instances.contains_key(&a[0]) {
                    0
                } else {
                    PROM_ERROR
                }
            }
            // Nothing we open is seekable.
            "seek" => PROM_ERROR,
            "claim" => self
                .claim(a[0] as u64, a[1] as u64, a[2] as u64)
                .map_or(PROM_ERROR, |b| b as u32),
            "release" => {
                self.release(a[0] as u64, a[1] as u64);
                0
            }
            "milliseconds" => self.epoch.elapsed().as_millis() as u32,
            "quiesce" => {
                self.quiesced = true;
                0
            }
            "exit" => {
                cx.host.exit();
                0
            }
            "call-method" => {
                self.call_method(cx, a, r);
                return;
            }
            "test" => match read_str(mem, a[0] as u64, MAX_SERVICE) {
                Some(s) if SERVICES.iter().any(|(n, _)| *n == s) => 0,
                _ => PROM_ERROR,
            },
            // No Forth interpreter, and nothing else to boot: the calls fail.
            _ => PROM_ERROR,
        };
    }

    fn setprop(
        &mut self,
        mem: &GuestMemory,
        tree: &mut DeviceTree,
        ph: u32,
        name: u32,
        buf: u32,
        len: u32,
    ) -> u32 {
        let Some(id) = tree.by_phandle(ph) else {
            return PROM_ERROR;
        };
        let Some(name) = read_str(mem, name as u64, MAX_PROPNAME) else {
            return PROM_ERROR;
        };
        // Phandles are the node's identity here; they are not settable.
        if name.is_empty() || is_phandle_prop(&name) || len > MAX_SETPROP {
            return PROM_ERROR;
        }
        let n = len as usize;
        if n > self.setprop_left {
            return PROM_ERROR;
        }
        let mut v = vec![0u8; n];
        if !mem.read(buf as u64, &mut v) {
            return PROM_ERROR;
        }
        self.setprop_left -= n;
        tree.set_prop(id, &name, v);
        len
    }

    fn open(&mut self, mem: &GuestMemory, tree: &DeviceTree, path: u32) -> u32 {
        let Some(id) = read_str(mem, path as u64, MAX_PATH).and_then(|p| resolve(tree, &p)) else {
            return PROM_ERROR;
        };
        if self.instances.len() >= MAX_INSTANCES || self.next_ihandle == PROM_ERROR {
            return PROM_ERROR;
        }
        let ih = self.next_ihandle;
        self.next_ihandle += 1;
        self.instances.insert(ih, id);
        ih
    }

    /// `write` to an instance of a serial device goes to the console.
    fn write(
        &mut self,
        mem: &GuestMemory,
        tree: &DeviceTree,
        host: &dyn VofHost,
        ih: u32,
        buf: u32,
        len: u32,
    ) -> u32 {
        let Some(&id) = self.instances.get(&ih) else {
            return PROM_ERROR;
        };
        if tree.prop(id, "device_type") != Some(&b"serial\0"[..]) {
            return PROM_ERROR;
        }
        let (buf, total) = (buf as u64, len as u64);
        if mem.ptr(buf, total).is_none() {
            return PROM_ERROR;
        }
        let mut chunk = [0u8; 256];
        let mut done = 0u64;
        while done < total {
            let n = (total - done).min(chunk.len() as u64) as usize;
            if !mem.read(buf + done, &mut chunk[..n]) {
                return PROM_ERROR;
            }
            host.console_write(&chunk[..n]);
            done += n as u64;
        }
        len
    }

    /// `call-method ( method ihandle args... -- catch-result results... )`.
    fn call_method(&mut self, cx: &mut Cx, a: &[u32], r: &mut [u32; MAX_CELLS]) {
        r[0] = PROM_ERROR;
        let Some(method) = read_str(cx.mem, a[0] as u64, MAX_METHOD) else {
            return;
        };
        let Some(&node) = self.instances.get(&a[1]) else {
            return;
        };
        let param = a.get(2).copied();
        match method.as_str() {
            "ibm,client-architecture-support" if node == DeviceTree::ROOT => {
                let Some(vec) = param else {
                    return;
                };
                let status = match cas::negotiate(cx.mem, cx.tree, vec as u64) {
                    Ok(res) => {
                        cas::apply(cx.tree, &res);
                        self.cas = Some(res);
                        H_SUCCESS
                    }
                    Err(e) => {
                        static LOG: ppc::ratelog::RateLog =
                            ppc::ratelog::RateLog::new("CAS errors");
                        LOG.line(|| format!("ibm,client-architecture-support: {e}"));
                        e.status()
                    }
                };
                r[0] = 0;
                r[1] = status as u32;
            }
            "instantiate-rtas" if Some(node) == cx.tree.find("/rtas") => {
                let Some(base) = param else {
                    return;
                };
                let blob: Vec<u8> = crate::rtas::BLOB
                    .iter()
                    .flat_map(|w| w.to_be_bytes())
                    .collect();
                if base == 0 || !cx.mem.write(base as u64, &blob) {
                    return;
                }
                r[0] = 0;
                r[1] = base;
            }
            _ => self.log_unknown(&format!("method {method}")),
        }
    }

    fn log_unknown(&self, what: &str) {
        static LOG: ppc::ratelog::RateLog =
            ppc::ratelog::RateLog::new("unimplemented client-interface services");
        // Keyed by a hash of the name: log-once needs no copy of guest strings.
        let key = what.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        LOG.once(key, || {
            format!("Open Firmware client interface: unimplemented {what}")
        });
    }
}

/// What a service may touch.
struct Cx<'a> {
    mem: &'a GuestMemory,
    tree: &'a mut DeviceTree,
    host: &'a dyn VofHost,
}

/// getprop (with a buffer) or getproplen: the property's full length, copying at most `buflen`
/// bytes of it.
fn getprop(
    mem: &GuestMemory,
    tree: &DeviceTree,
    ph: u32,
    name: u32,
    buf: Option<(u32, u32)>,
) -> u32 {
    let Some(id) = tree.by_phandle(ph) else {
        return PROM_ERROR;
    };
    let Some(name) = read_str(mem, name as u64, MAX_PROPNAME) else {
        return PROM_ERROR;
    };
    let Some(val) = prop_value(tree, id, &name) else {
        return PROM_ERROR;
    };
    if let Some((addr, len)) = buf {
        let n = val.len().min(len as usize);
        if !mem.write(addr as u64, &val[..n]) {
            return PROM_ERROR;
        }
    }
    val.len() as u32
}

/// nextprop: 1 and the name of the property after `prev` ("" = first) in `buf`, 0 at the end.
fn nextprop(mem: &GuestMemory, tree: &DeviceTree, ph: u32, prev: u32, buf: u32) -> u32 {
    let Some(id) = tree.by_phandle(ph) else {
        return PROM_ERROR;
    };
    let Some(prev) = read_str(mem, prev as u64, MAX_PROPNAME) else {
        return PROM_ERROR;
    };
    match tree.next_prop(id, &prev) {
        None => 0,
        Some(next) => {
            let mut v = next.as_bytes().to_vec();
            v.push(0);
            if mem.write(buf as u64, &v) {
                1
            } else {
                PROM_ERROR
            }
        }
    }
}

/// Stores a path for package-to-path & co: at most `len` bytes of it with its NUL; returns the
/// path's length (so a caller with a short buffer can retry with a bigger one).
fn put_str(mem: &GuestMemory, buf: u32, len: u32, s: &str) -> u32 {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    let n = v.len().min(len as usize);
    if !mem.write(buf as u64, &v[..n]) {
        return PROM_ERROR;
    }
    s.len() as u32
}

pub const HCALLS: &[(u64, &str, HcallFn)] =
    &[(KVMPPC_H_VOF_CLIENT, "KVMPPC_H_VOF_CLIENT", h_vof_client)];

/// KVMPPC_H_VOF_CLIENT: r4 = real address (32-bit) of the prom_args block.
fn h_vof_client(m: &Machine, cpu: &mut Cpu) -> i64 {
    let args = cpu.gpr[4] & 0xffff_ffff;
    let (ret, cas) = {
        let (Ok(mut vof), Ok(mut tree)) = (m.vof.lock(), m.tree.lock()) else {
            return H_HARDWARE;
        };
        let before = vof.cas_result();
        let ret = match vof.client_call(&m.mem, &mut tree, m, args) {
            Ok(()) => H_SUCCESS,
            Err(_) => H_PARAMETER,
        };
        let after = vof.cas_result();
        (ret, (after != before).then_some(after).flatten())
    };
    // A negotiated compatibility mode makes every vCPU behave as that ISA level (PCR), which
    // also gates the instructions it decodes.
    if let Some(res) = cas {
        let pcr = cpu.model.pcr_for(res.level);
        m.update_cpu_state(cpu, |st| st.pcr = pcr);
    }
    ret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::MachineConfig;
    use crate::testutil::{self, Captured};

    /// Layout of the test guest (64 MiB): kernel image [4 MiB, 5 MiB), a 4 KiB initrd at 6 MiB,
    /// the prom_args block at 2 MiB and scratch strings/buffers after it.
    const KERNEL: (u64, u64) = (0x40_0000, 0x50_0000);
    const INITRD: (u64, u64) = (0x60_0000, 0x1000);
    const ARGS: u64 = 0x20_0000;
    const SCRATCH: u64 = 0x20_1000;

    struct Guest {
        m: Machine,
        out: Captured,
        cpu: Cpu,
        entry: VofEntry,
        next: u64,
    }

    fn guest() -> Guest {
        let (m, out) = testutil::machine();
        let cfg = MachineConfig {
            append: "console=hvc0".into(),
            ..m.config.clone()
        };
        let mut tree = crate::fdt::build(&cfg, Some(INITRD));
        m.build_device_nodes(&mut tree);
        let entry = m
            .vof
            .lock()
            .expect("vof")
            .install(&m.mem, &tree, KERNEL, Some(INITRD))
            .expect("install");
        *m.tree.lock().expect("tree") = tree;
        let cpu = testutil::cpu(&m);
        Guest {
            m,
            out,
            cpu,
            entry,
            next: SCRATCH,
        }
    }

    impl Guest {
        /// Places bytes in scratch memory; returns their address.
        fn put(&mut self, data: &[u8]) -> u32 {
            let at = self.next;
            assert!(self.m.mem.write(at, data));
            self.next = (at + data.len() as u64 + 16) & !7;
            at as u32
        }
        fn s(&mut self, text: &str) -> u32 {
            let mut v = text.as_bytes().to_vec();
            v.push(0);
            self.put(&v)
        }
        /// A buffer of `n` bytes filled with 0xee (to see what a service wrote).
        fn buf(&mut self, n: usize) -> u32 {
            self.put(&vec![0xee; n])
        }
        fn read(&self, at: u32, n: usize) -> Vec<u8> {
            let mut v = vec![0; n];
            assert!(self.m.mem.read(at as u64, &mut v));
            v
        }
        /// Writes a prom_args block for `service` at `at` and makes the hcall; returns r3.
        fn raw(&mut self, at: u64, service: u32, nargs: u32, nret: u32, args: &[u32]) -> i64 {
            let mut w = vec![service, nargs, nret];
            w.extend_from_slice(args);
            let bytes: Vec<u8> = w.iter().flat_map(|x| x.to_be_bytes()).collect();
            assert!(self.m.mem.write(at, &bytes));
            testutil::hcall(&self.m, &mut self.cpu, KVMPPC_H_VOF_CLIENT, &[at])
        }
        /// Calls `service` with `args`, expecting `nret` returns (pre-filled with garbage).
        fn call(&mut self, service: &str, args: &[u32], nret: usize) -> Vec<u32> {
            let name = self.s(service);
            let mut cells = args.to_vec();
            cells.extend(std::iter::repeat_n(0xdead_beef, nret));
            let rc = self.raw(ARGS, name, args.len() as u32, nret as u32, &cells);
            assert_eq!(rc, H_SUCCESS, "{service}");
            (0..nret)
                .map(|i| {
                    let b = self.read((ARGS + 12 + 4 * (args.len() + i) as u64) as u32, 4);
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
                })
                .collect()
        }
        fn call1(&mut self, service: &str, args: &[u32]) -> u32 {
            self.call(service, args, 1)[0]
        }
        fn find(&mut self, path: &str) -> u32 {
            let p = self.s(path);
            self.call1("finddevice", &[p])
        }
        fn tree_ph(&self, path: &str) -> u32 {
            let t = self.m.tree.lock().expect("tree");
            let id = t.find(path).expect("node");
            t.node(id).expect("node").phandle
        }
        /// package-to-path of `ph` as a string.
        fn path_of(&mut self, ph: u32) -> String {
            let b = self.buf(256);
            let n = self.call1("package-to-path", &[ph, b, 256]);
            String::from_utf8(self.read(b, n as usize)).expect("utf8")
        }
        fn getprop(&mut self, ph: u32, name: &str, len: usize) -> (u32, Vec<u8>) {
            let n = self.s(name);
            let b = self.buf(len.max(1));
            let r = self.call1("getprop", &[ph, n, b, len as u32]);
            (r, self.read(b, len))
        }
    }

    #[test]
    fn install_places_stub_and_preclaims() {
        let g = guest();
        // The first free 64 KiB block at or above 64 KiB; r1 leaves 256 bytes above it.
        assert_eq!(
            g.entry,
            VofEntry {
                ci_entry: 0x1_0000,
                stack_top: 0x1_ff00
            }
        );
        let words = g.read(0x1_0000, 20);
        let expect: Vec<u8> = STUB.iter().flat_map(|w| w.to_be_bytes()).collect();
        assert_eq!(words, expect);
        let vof = g.m.vof.lock().expect("vof");
        assert_eq!(
            vof.claims(),
            &[
                (0x1_0000, 0x2_0000),
                (0x40_0000, 0x50_0000),
                (0x60_0000, 0x60_1000)
            ]
        );
        assert!(vof.cas_result().is_none());
    }

    #[test]
    fn stub_encodings_match_the_isa() {
        // mr r4,r3 = or r4,r3,r3: opcode 31, RS=3, RA=4, RB=3, XO=444.
        assert_eq!(
            STUB[0],
            (31 << 26) | (3 << 21) | (4 << 16) | (3 << 11) | (444 << 1)
        );
        // lis r3,0 = addis r3,0,0: opcode 15.
        assert_eq!(STUB[1], (15 << 26) | (3 << 21));
        // ori r3,r3,0xf005: opcode 24.
        assert_eq!(STUB[2], (24 << 26) | (3 << 21) | (3 << 16) | 0xf005);
        // sc 1: opcode 17, LEV=1 in bits 20:26, bit 30 set.
        assert_eq!(STUB[3], (17 << 26) | (1 << 5) | 2);
        // blr = bclr 20,0: opcode 19, BO=20, XO=16.
        assert_eq!(STUB[4], (19 << 26) | (20 << 21) | (16 << 1));
    }

    #[test]
    fn stub_runs_as_prom_init_calls_it() {
        let mut g = guest();
        let name = g.s("milliseconds");
        let bytes: Vec<u8> = [name, 0, 1, 0xdead_beef]
            .iter()
            .flat_map(|x| x.to_be_bytes())
            .collect();
        assert!(g.m.mem.write(ARGS, &bytes));
        // 32-bit big-endian supervisor mode, r3 = prom_args, LR = return address.
        g.cpu.set_msr(ppc::cpu::msr::ME);
        g.cpu.pc = g.entry.ci_entry;
        g.cpu.gpr[3] = ARGS;
        g.cpu.lr = 0x3_0000;
        let mut cache = ppc::DecodeCache::default();
        let r = ppc::run(&mut g.cpu, &mut cache, 100);
        assert_eq!(r, Err(ppc::Exception::SystemCall { lev: 1 }));
        assert_eq!(g.cpu.gpr[3], KVMPPC_H_VOF_CLIENT);
        assert_eq!(g.cpu.gpr[4], ARGS);
        crate::hcall::dispatch(&g.m, &mut g.cpu);
        assert_eq!(g.cpu.gpr[3], 0);
        assert_eq!(ppc::run(&mut g.cpu, &mut cache, 1), Ok(()));
        assert_eq!(g.cpu.pc, 0x3_0000);
        assert_ne!(g.read((ARGS + 12) as u32, 4), vec![0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn finddevice_paths_and_missing_nodes() {
        let mut g = guest();
        assert_eq!(g.find("/"), 1);
        let chosen = g.tree_ph("/chosen");
        assert_eq!(g.find("/chosen"), chosen);
        let cpu0 = g.tree_ph("/cpus/PowerPC,POWER9@0");
        // Without a unit address the first matching node is found.
        assert_eq!(g.find("/cpus/PowerPC,POWER9"), cpu0);
        let vty = g.tree_ph("/vdevice/vty@71000000");
        // Device arguments are ignored; unit addresses compare in lower case.
        assert_eq!(g.find("/vdevice/vty@71000000:foo"), vty);
        assert_eq!(g.find("/nonexistent"), PROM_ERROR);
        assert_eq!(g.find("/cpus/PowerPC,POWER9@7"), PROM_ERROR);
        // A relative name is an alias; there is no /aliases node.
        assert_eq!(g.find("disk"), PROM_ERROR);
        // A path pointer outside RAM is a failed call, not a bad block.
        assert_eq!(g.call1("finddevice", &[0xffff_fff0]), PROM_ERROR);
    }

    #[test]
    fn aliases_resolve_to_their_targets() {
        let (m, _) = testutil::machine();
        let mut t = crate::fdt::build(&m.config, None);
        m.build_device_nodes(&mut t);
        let aliases = t.add_node(DeviceTree::ROOT, "aliases");
        t.set_str(aliases, "hvterm", "/vdevice/vty@71000000");
        t.set_str(aliases, "broken", "vdevice");
        let vty = t.find("/vdevice/vty@71000000");
        assert!(vty.is_some());
        assert_eq!(resolve(&t, "hvterm"), vty);
        assert_eq!(resolve(&t, "hvterm:0"), vty);
        assert_eq!(
            resolve(&t, "/vdevice/VTY@71000000"),
            None,
            "names are case-sensitive"
        );
        assert_eq!(resolve(&t, "/vdevice/vty@71000000/"), vty);
        assert_eq!(resolve(&t, "broken"), None);
        assert_eq!(resolve(&t, "nosuch"), None);
        assert_eq!(resolve(&t, ""), None);
    }

    #[test]
    fn getprop_full_short_and_missing() {
        let mut g = guest();
        let (n, v) = g.getprop(1, "device_type", 8);
        assert_eq!(n, 5);
        assert_eq!(v, b"chrp\0\xee\xee\xee");
        // A short buffer gets the first bytes; the return is still the full length.
        let name = g.s("device_type");
        let b = g.buf(4);
        assert_eq!(g.call1("getprop", &[1, name, b, 2]), 5);
        assert_eq!(
            g.read(b, 4),
            b"ch\xee\xee",
            "nothing written past the buffer"
        );
        let name = g.s("compatible");
        assert_eq!(g.call1("getproplen", &[1, name]), 13);
        let (n, _) = g.getprop(1, "no-such-prop", 4);
        assert_eq!(n, PROM_ERROR);
        let (n, _) = g.getprop(0x7fff, "device_type", 4);
        assert_eq!(n, PROM_ERROR, "invalid phandle");
        // "name" comes from the node name without its unit address.
        let vty = g.tree_ph("/vdevice/vty@71000000");
        let (n, v) = g.getprop(vty, "name", 8);
        assert_eq!((n, &v[..4]), (4, &b"vty\0"[..]));
        let (n, v) = g.getprop(vty, "phandle", 4);
        assert_eq!((n, v), (4, vty.to_be_bytes().to_vec()));
        // A destination outside RAM fails.
        let name = g.s("device_type");
        assert_eq!(g.call1("getprop", &[1, name, 0xffff_fffc, 16]), PROM_ERROR);
    }

    #[test]
    fn nextprop_iterates_a_node() {
        let mut g = guest();
        let vty = g.tree_ph("/vdevice/vty@71000000");
        let mut names = Vec::new();
        let mut prev = g.s("");
        loop {
            let b = g.buf(64);
            match g.call1("nextprop", &[vty, prev, b]) {
                1 => {}
                0 => break,
                r => panic!("nextprop returned {r:#x}"),
            }
            let raw = g.read(b, 64);
            let end = raw.iter().position(|&c| c == 0).expect("NUL");
            names.push(String::from_utf8(raw[..end].to_vec()).expect("utf8"));
            prev = b;
            assert!(names.len() < 50);
        }
        assert_eq!(names, ["device_type", "compatible", "reg", "interrupts"]);
        let p = g.s("");
        let b = g.buf(64);
        assert_eq!(g.call1("nextprop", &[0x7fff, p, b]), PROM_ERROR);
    }

    #[test]
    fn setprop_updates_the_live_tree() {
        let mut g = guest();
        let rtas = g.find("/rtas");
        let name = g.s("linux,rtas-base");
        let val = g.put(&0x0300_0000u32.to_be_bytes());
        assert_eq!(g.call1("setprop", &[rtas, name, val, 4]), 4);
        let (n, v) = g.getprop(rtas, "linux,rtas-base", 4);
        assert_eq!((n, v), (4, vec![3, 0, 0, 0]));
        let ph = g.s("phandle");
        assert_eq!(g.call1("setprop", &[rtas, ph, val, 4]), PROM_ERROR);
        assert_eq!(
            g.call1("setprop", &[rtas, name, val, MAX_SETPROP + 1]),
            PROM_ERROR
        );
        assert_eq!(
            g.call1("setprop", &[rtas, name, 0xffff_ff00, 0x1000]),
            PROM_ERROR
        );
    }

    #[test]
    fn child_peer_parent_walk_the_whole_tree() {
        let mut g = guest();
        // prom_init's prom_next_node: child, else peer, else climb parents looking for a peer.
        let mut node = 0u32;
        let mut seen = Vec::new();
        loop {
            let next = if node != 0 {
                g.call1("child", &[node])
            } else {
                0
            };
            node = if next != 0 {
                next
            } else {
                let mut cur = node;
                loop {
                    let p = g.call1("peer", &[cur]);
                    if p != 0 {
                        break p;
                    }
                    cur = g.call1("parent", &[cur]);
                    if cur == 0 {
                        break 0;
                    }
                }
            };
            if node == 0 {
                break;
            }
            seen.push(g.path_of(node));
            assert!(seen.len() < 100);
        }
        let t = g.m.tree.lock().expect("tree");
        let mut all: Vec<String> = (0..t.len()).map(|id| t.path(id)).collect();
        drop(t);
        // Every node once (devices are added after the base tree, so not in creation order).
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n, "a node visited twice");
        all.sort();
        assert_eq!(seen, all);
        assert_eq!(g.call1("parent", &[1]), 0, "the root has no parent");
        assert_eq!(g.call1("peer", &[0]), 1, "peer of 0 is the root");
        assert_eq!(g.call1("child", &[0x7fff]), 0);
    }

    #[test]
    fn paths_and_canon_with_short_buffers() {
        let mut g = guest();
        let cpu0 = g.tree_ph("/cpus/PowerPC,POWER9@0");
        assert_eq!(g.path_of(cpu0), "/cpus/PowerPC,POWER9@0");
        let b = g.buf(8);
        // Length of the whole path; only the 5 bytes the buffer has room for are stored.
        assert_eq!(g.call1("package-to-path", &[cpu0, b, 5]), 22);
        assert_eq!(g.read(b, 6), b"/cpus\xee");
        let spec = g.s("/cpus/PowerPC,POWER9");
        let b = g.buf(64);
        assert_eq!(g.call1("canon", &[spec, b, 64]), 22);
        assert_eq!(g.read(b, 23), b"/cpus/PowerPC,POWER9@0\0");
        assert_eq!(g.call1("package-to-path", &[0x7fff, b, 64]), PROM_ERROR);
    }

    #[test]
    fn instances_open_close_and_console() {
        let mut g = guest();
        // prom_init_stdout: the ihandle in /chosen "stdout", its package and path.
        let chosen = g.find("/chosen");
        let (n, v) = g.getprop(chosen, "stdout", 4);
        assert_eq!(n, 4);
        let stdout = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
        assert_eq!(stdout, STDOUT_IHANDLE);
        let vty = g.tree_ph("/vdevice/vty@71000000");
        assert_eq!(g.call1("instance-to-package", &[stdout]), vty);
        let b = g.buf(64);
        assert_eq!(g.call1("instance-to-path", &[stdout, b, 64]), 21);
        assert_eq!(g.read(b, 22), b"/vdevice/vty@71000000\0");

        let msg = g.put(b"hello\r\n");
        assert_eq!(g.call1("write", &[stdout, msg, 7]), 7);
        assert_eq!(g.out.text(), "hello\r\n");
        assert_eq!(g.call1("write", &[stdout, 0xffff_fff0, 0x100]), PROM_ERROR);
        assert_eq!(g.call1("write", &[0x1234, msg, 7]), PROM_ERROR);
        let b = g.buf(16);
        assert_eq!(g.call1("read", &[stdout, b, 16]), 0);

        let path = g.s("/rtas");
        let ih = g.call1("open", &[path]);
        assert!(ih != 0 && ih != PROM_ERROR && ih != stdout);
        assert_eq!(g.call1("instance-to-package", &[ih]), g.tree_ph("/rtas"));
        // Not a console.
        assert_eq!(g.call1("write", &[ih, msg, 7]), PROM_ERROR);
        assert_eq!(g.call("close", &[ih], 0), Vec::<u32>::new());
        assert_eq!(g.call1("instance-to-package", &[ih]), PROM_ERROR);
        let bad = g.s("/nope");
        assert_eq!(g.call1("open", &[bad]), PROM_ERROR);
    }

    #[test]
    fn claim_explicit_aligned_overlap_release() {
        let mut g = guest();
        // Overlaps the kernel, the initrd, the stub area: refused.
        assert_eq!(g.call1("claim", &[0x4f_f000, 0x2000, 0]), PROM_ERROR);
        assert_eq!(g.call1("claim", &[0x60_0800, 0x100, 0]), PROM_ERROR);
        assert_eq!(g.call1("claim", &[0x1_8000, 0x1000, 0]), PROM_ERROR);
        // Free explicit ranges are granted once.
        assert_eq!(g.call1("claim", &[0x80_0000, 0x1_0000, 0]), 0x80_0000);
        assert_eq!(g.call1("claim", &[0x80_8000, 0x1_0000, 0]), PROM_ERROR);
        // Aligned claims search upwards from the kernel's end (5 MiB).
        assert_eq!(g.call1("claim", &[0, 0x1_0000, 0x1_0000]), 0x50_0000);
        // 2 MiB at 1 MiB alignment: 5 MiB is taken, 6 MiB holds the initrd, 7 MiB is taken at
        // 8 MiB, so 9 MiB.
        assert_eq!(g.call1("claim", &[0, 0x20_0000, 0x10_0000]), 0x90_0000);
        // Released memory can be claimed again.
        assert_eq!(g.call("release", &[0x80_0000, 0x1_0000], 0).len(), 0);
        assert_eq!(g.call1("claim", &[0x80_8000, 0x1_0000, 0]), 0x80_8000);
        // Zero size, a non-power-of-two alignment, beyond RAM: refused.
        assert_eq!(g.call1("claim", &[0xa0_0000, 0, 0]), PROM_ERROR);
        assert_eq!(g.call1("claim", &[0, 0x1000, 0x3000]), PROM_ERROR);
        assert_eq!(g.call1("claim", &[0x3ff_f000, 0x2000, 0]), PROM_ERROR);
        assert_eq!(g.call1("claim", &[0, 0x400_0000, 0x1000]), PROM_ERROR);
    }

    #[test]
    fn release_splits_claims() {
        let mut v = Vof::new(1 << 30);
        assert_eq!(v.claim(0x1000, 0x3000, 0), Some(0x1000));
        v.release(0x2000, 0x1000);
        assert_eq!(v.claims(), &[(0x1000, 0x2000), (0x3000, 0x4000)]);
        assert_eq!(v.claim(0x2000, 0x1000, 0), Some(0x2000));
    }

    #[test]
    fn claims_are_bounded() {
        let mut v = Vof::new(1 << 30);
        let n = (0..2000u64)
            .filter(|i| v.claim(0x100_0000 + i * 0x20, 0x10, 0).is_some())
            .count();
        assert_eq!(n, MAX_CLAIMS);
        // Releasing the middle of a claim would split it past the bound: refused.
        v.release(0x100_0004, 4);
        assert_eq!(v.claims().len(), MAX_CLAIMS);
        assert_eq!(v.claims()[0], (0x100_0000, 0x100_0010));
        // Releasing a whole claim frees a slot.
        v.release(0x100_0000, 0x10);
        assert_eq!(v.claim(0x200_0000, 0x10, 0), Some(0x200_0000));
    }

    #[test]
    fn instantiate_rtas_copies_the_blob() {
        let mut g = guest();
        let path = g.s("/rtas");
        let rtas = g.call1("open", &[path]);
        let method = g.s("instantiate-rtas");
        let r = g.call("call-method", &[method, rtas, 0x30_0000], 2);
        assert_eq!(r, [0, 0x30_0000], "catch-result 0, entry = base");
        let blob: Vec<u8> = crate::rtas::BLOB
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(g.read(0x30_0000, blob.len()), blob);
        // Only on /rtas, and to an address in RAM.
        let r = g.call("call-method", &[method, STDOUT_IHANDLE, 0x30_0000], 2);
        assert_eq!(r[0], PROM_ERROR);
        let r = g.call("call-method", &[method, rtas, 0xffff_fff0], 2);
        assert_eq!(r[0], PROM_ERROR);
        let other = g.s("frobnicate");
        let r = g.call("call-method", &[other, rtas], 1);
        assert_eq!(r[0], PROM_ERROR);
    }

    #[test]
    fn cas_through_the_client_interface() {
        let mut g = guest();
        let vec = g.put(&cas::tests::linux_vector(0x40, 0x40, 0));
        let path = g.s("/");
        let root = g.call1("open", &[path]);
        let method = g.s("ibm,client-architecture-support");
        let r = g.call("call-method", &[method, root, vec], 2);
        assert_eq!(r, [0, 0]);
        let res = g.m.vof.lock().expect("vof").cas_result().expect("CAS done");
        assert!(res.radix && res.gtse);
        assert_eq!(res.compat_pvr, Some(cas::LOGICAL_PVR_3_00));
        let cpu0 = g.tree_ph("/cpus/PowerPC,POWER9@0");
        let (_, v) = g.getprop(cpu0, "cpu-version", 4);
        assert_eq!(v, 0x0f00_0005u32.to_be_bytes());
        let chosen = g.find("/chosen");
        let (n, v) = g.getprop(chosen, "ibm,architecture-vec-5", 27);
        assert_eq!(n, 27);
        assert_eq!(v[24], 0x40, "radix granted");
        // CAS is only a method of the root.
        let r = g.call("call-method", &[method, STDOUT_IHANDLE, vec], 2);
        assert_eq!(r[0], PROM_ERROR);
    }

    #[test]
    fn malformed_blocks_fail_without_side_effects() {
        let mut g = guest();
        let name = g.s("milliseconds");
        // nargs beyond the 10 cells, nargs + nret beyond them, huge values.
        assert_eq!(g.raw(ARGS, name, 11, 0, &[]), H_PARAMETER);
        assert_eq!(g.raw(ARGS, name, 6, 5, &[0; 6]), H_PARAMETER);
        assert_eq!(g.raw(ARGS, name, u32::MAX, u32::MAX, &[]), H_PARAMETER);
        // The block outside RAM, and straddling its end.
        let top = g.m.mem.size();
        assert_eq!(
            testutil::hcall(&g.m, &mut g.cpu, KVMPPC_H_VOF_CLIENT, &[0xffff_fff0]),
            H_PARAMETER
        );
        assert_eq!(g.raw(top - 12, name, 0, 1, &[]), H_PARAMETER);
        // The service name outside RAM, or not terminated within 64 bytes.
        assert_eq!(g.raw(ARGS, 0xffff_fff0, 0, 1, &[0]), H_PARAMETER);
        let long = g.put(&[b'a'; 100]);
        assert_eq!(g.raw(ARGS, long, 0, 1, &[0]), H_PARAMETER);
        // Too few arguments for a known service: the service fails.
        let fd = g.s("getprop");
        assert_eq!(g.raw(ARGS, fd, 1, 1, &[1, 0]), H_SUCCESS);
        assert_eq!(g.read((ARGS + 16) as u32, 4), PROM_ERROR.to_be_bytes());
        // Only the high half of r4 set: the address is 32-bit.
        assert_eq!(
            testutil::hcall(&g.m, &mut g.cpu, KVMPPC_H_VOF_CLIENT, &[(1 << 40) | ARGS]),
            H_SUCCESS
        );
    }

    #[test]
    fn test_interpret_unknown_and_exit() {
        let mut g = guest();
        let fd = g.s("finddevice");
        assert_eq!(g.call1("test", &[fd]), 0);
        let cm = g.s("call-method");
        assert_eq!(g.call1("test", &[cm]), 0);
        let nope = g.s("start-cpu");
        assert_eq!(g.call1("test", &[nope]), PROM_ERROR);
        assert_eq!(g.call1("start-cpu", &[1, 2, 3]), PROM_ERROR);
        let cmd = g.s("see see");
        assert_eq!(g.call("interpret", &[cmd], 2)[0], PROM_ERROR);
        assert_eq!(g.call1("seek", &[STDOUT_IHANDLE, 0, 0]), PROM_ERROR);
        let spec = g.s("disk");
        assert_eq!(g.call1("boot", &[spec]), PROM_ERROR);
        assert_eq!(g.call1("enter", &[]), PROM_ERROR);
        assert_eq!(g.call1("chain", &[0, 0, 0, 0, 0]), PROM_ERROR);
        let t0 = g.call1("milliseconds", &[]);
        assert!(g.call1("milliseconds", &[]) >= t0);
        assert_eq!(g.call("quiesce", &[], 0).len(), 0);
        assert!(g.m.vof.lock().expect("vof").quiesced());
        assert_eq!(g.m.run_state(), RunState::Running);
        assert_eq!(g.call("exit", &[], 0).len(), 0);
        assert_eq!(g.m.run_state(), RunState::Terminated("OF exit".into()));
    }
}
