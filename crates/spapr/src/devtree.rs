//! The machine's Open Firmware device tree, kept as a live tree: the built-in client interface answers
//! `finddevice`/`getprop`/`nextprop`/`setprop` from it while the guest runs, CAS edits it, and it is
//! flattened (with vm-fdt) for firmware loaded with `-bios`.

/// Index of a node in the tree; stable for the tree's lifetime (nodes are never removed).
pub type NodeId = usize;

#[derive(Clone, Debug)]
pub struct Prop {
    pub name: String,
    pub value: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct Node {
    /// Name with unit address, e.g. `PowerPC,POWER9@0`.
    pub name: String,
    pub parent: Option<NodeId>,
    pub children: Vec<NodeId>,
    pub props: Vec<Prop>,
    pub phandle: u32,
}

#[derive(Clone, Debug)]
pub struct DeviceTree {
    nodes: Vec<Node>,
}

/// Encodes 32-bit cells big-endian, as device-tree properties are.
pub fn cells(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|c| c.to_be_bytes()).collect()
}

/// Encodes a 64-bit value as two cells.
pub fn cells64(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|c| c.to_be_bytes()).collect()
}

/// A NUL-terminated string property.
pub fn string(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// A string-list property (each string NUL-terminated).
pub fn strings(list: &[&str]) -> Vec<u8> {
    list.iter().flat_map(|s| string(s)).collect()
}

impl Default for DeviceTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DeviceTree {
    /// A tree holding only the root node.
    pub fn new() -> DeviceTree {
        DeviceTree {
            nodes: vec![Node {
                name: String::new(),
                parent: None,
                children: Vec::new(),
                props: Vec::new(),
                phandle: 1,
            }],
        }
    }

    pub const ROOT: NodeId = 0;

    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Adds a child named `name` (with unit address if any) under `parent`. An invalid `parent`
    /// (a host bug) attaches the node to the root rather than panicking.
    pub fn add_node(&mut self, parent: NodeId, name: &str) -> NodeId {
        let parent = if parent < self.nodes.len() {
            parent
        } else {
            Self::ROOT
        };
        let id = self.nodes.len();
        self.nodes.push(Node {
            name: name.to_string(),
            parent: Some(parent),
            children: Vec::new(),
            props: Vec::new(),
            phandle: id as u32 + 1,
        });
        self.nodes[parent].children.push(id);
        id
    }

    /// Sets (adds or replaces) a property; ignored for a node that does not exist.
    pub fn set_prop(&mut self, id: NodeId, name: &str, value: impl Into<Vec<u8>>) {
        let value = value.into();
        let Some(node) = self.nodes.get_mut(id) else {
            return;
        };
        let props = &mut node.props;
        match props.iter_mut().find(|p| p.name == name) {
            Some(p) => p.value = value,
            None => props.push(Prop {
                name: name.to_string(),
                value,
            }),
        }
    }

    pub fn set_u32(&mut self, id: NodeId, name: &str, v: u32) {
        self.set_prop(id, name, cells(&[v]));
    }

    pub fn set_str(&mut self, id: NodeId, name: &str, v: &str) {
        self.set_prop(id, name, string(v));
    }

    pub fn remove_prop(&mut self, id: NodeId, name: &str) {
        if let Some(n) = self.nodes.get_mut(id) {
            n.props.retain(|p| p.name != name);
        }
    }

    pub fn prop(&self, id: NodeId, name: &str) -> Option<&[u8]> {
        if name == "phandle" || name == "ibm,phandle" || name == "linux,phandle" {
            // Served from the node itself so it can't go stale.
            return None;
        }
        self.nodes
            .get(id)?
            .props
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_slice())
    }

    /// The property after `prev` (the first when `prev` is empty), as OF `nextprop` walks them.
    pub fn next_prop(&self, id: NodeId, prev: &str) -> Option<&str> {
        let props = &self.nodes.get(id)?.props;
        if prev.is_empty() {
            return props.first().map(|p| p.name.as_str());
        }
        let i = props.iter().position(|p| p.name == prev)?;
        props.get(i + 1).map(|p| p.name.as_str())
    }

    pub fn by_phandle(&self, ph: u32) -> Option<NodeId> {
        let id = (ph as usize).checked_sub(1)?;
        (id < self.nodes.len()).then_some(id)
    }

    /// Finds a node by absolute path. A component without a unit address matches the first child
    /// whose name before `@` is equal, as Open Firmware's finddevice does.
    pub fn find(&self, path: &str) -> Option<NodeId> {
        if !path.starts_with('/') {
            return None;
        }
        let mut cur = Self::ROOT;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            let kids = &self.nodes.get(cur)?.children;
            cur = *kids
                .iter()
                .find(|&&k| self.nodes[k].name == comp)
                .or_else(|| {
                    if comp.contains('@') {
                        None
                    } else {
                        kids.iter()
                            .find(|&&k| self.nodes[k].name.split('@').next() == Some(comp))
                    }
                })?;
        }
        Some(cur)
    }

    /// The node's parent (None for the root or an invalid id).
    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        self.nodes.get(id)?.parent
    }

    /// The node's first child, as OF `child` walks the tree.
    pub fn first_child(&self, id: NodeId) -> Option<NodeId> {
        self.nodes.get(id)?.children.first().copied()
    }

    /// The node's next sibling, as OF `peer` walks the tree.
    pub fn next_sibling(&self, id: NodeId) -> Option<NodeId> {
        let parent = self.nodes.get(id)?.parent?;
        let kids = &self.nodes.get(parent)?.children;
        let i = kids.iter().position(|&k| k == id)?;
        kids.get(i + 1).copied()
    }

    /// The node's properties, in insertion order.
    pub fn props(&self, id: NodeId) -> &[Prop] {
        self.nodes.get(id).map_or(&[], |n| n.props.as_slice())
    }

    /// Every node whose `device_type` property is `ty`, in creation order.
    pub fn by_type(&self, ty: &str) -> Vec<NodeId> {
        let want = string(ty);
        (0..self.nodes.len())
            .filter(|&id| self.prop(id, "device_type") == Some(want.as_slice()))
            .collect()
    }

    /// The node's full path, `/` for the root.
    pub fn path(&self, id: NodeId) -> String {
        let mut parts = Vec::new();
        let mut cur = Some(id);
        while let Some(c) = cur {
            let Some(n) = self.nodes.get(c) else {
                break;
            };
            if n.parent.is_some() {
                parts.push(n.name.as_str());
            }
            cur = n.parent;
        }
        if parts.is_empty() {
            return "/".to_string();
        }
        parts.reverse();
        let mut s = String::new();
        for p in parts {
            s.push('/');
            s.push_str(p);
        }
        s
    }

    /// Flattens the tree into an FDT blob (version 17, no memory reservations); every node
    /// carries its `phandle`. Written here rather than with a generic FDT writer because PAPR
    /// property names exceed the 31 characters the generic device-tree spec allows (e.g.
    /// `ibm,associativity-reference-points`); libfdt and Linux accept them.
    pub fn to_fdt(&self, boot_cpuid: u32) -> Result<Vec<u8>, FdtError> {
        const HEADER: usize = 40;
        const RSVMAP: usize = 16; // the terminating (0, 0) entry
        let mut st = FdtStrings::default();
        let mut dt = Vec::new();
        self.flatten(Self::ROOT, &mut dt, &mut st, 0)?;
        dt.extend(FDT_END.to_be_bytes());
        let off_struct = HEADER + RSVMAP;
        let off_strings = off_struct + dt.len();
        let total = off_strings + st.bytes.len();
        let word = |v: usize| u32::try_from(v).map_err(|_| FdtError::TooLarge);
        let mut out = Vec::with_capacity(total);
        for v in [
            FDT_MAGIC,
            word(total)?,
            word(off_struct)?,
            word(off_strings)?,
            word(HEADER)?,
            17, // version
            16, // last compatible version
            boot_cpuid,
            word(st.bytes.len())?,
            word(dt.len())?,
        ] {
            out.extend(v.to_be_bytes());
        }
        out.extend([0u8; RSVMAP]);
        out.extend(dt);
        out.extend(st.bytes);
        Ok(out)
    }

    fn flatten(
        &self,
        id: NodeId,
        dt: &mut Vec<u8>,
        st: &mut FdtStrings,
        depth: usize,
    ) -> Result<(), FdtError> {
        let n = self.nodes.get(id).ok_or(FdtError::BadNode)?;
        if depth > FDT_MAX_DEPTH {
            return Err(FdtError::TooDeep);
        }
        if n.name.contains('\0') || n.name.contains('/') {
            return Err(FdtError::BadName);
        }
        dt.extend(FDT_BEGIN_NODE.to_be_bytes());
        dt.extend(n.name.as_bytes());
        dt.push(0);
        pad4(dt);
        let phandle = n.phandle.to_be_bytes();
        let props = n
            .props
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_slice()))
            .chain(std::iter::once(("phandle", &phandle[..])));
        for (name, value) in props {
            if name.is_empty() || name.contains('\0') {
                return Err(FdtError::BadName);
            }
            let len = u32::try_from(value.len()).map_err(|_| FdtError::TooLarge)?;
            dt.extend(FDT_PROP.to_be_bytes());
            dt.extend(len.to_be_bytes());
            dt.extend(st.offset(name)?.to_be_bytes());
            dt.extend(value);
            pad4(dt);
        }
        for &c in &n.children {
            self.flatten(c, dt, st, depth + 1)?;
        }
        dt.extend(FDT_END_NODE.to_be_bytes());
        Ok(())
    }
}

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_END: u32 = 9;
const FDT_MAX_DEPTH: usize = 64;

/// Why a tree cannot be flattened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdtError {
    /// A node or property name contains NUL (or '/' in a node name), or is empty.
    BadName,
    /// Nodes nested deeper than 64.
    TooDeep,
    /// The blob would exceed 4 GiB.
    TooLarge,
    /// A child index does not name a node.
    BadNode,
}

impl std::fmt::Display for FdtError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let s = match self {
            FdtError::BadName => "invalid node or property name",
            FdtError::TooDeep => "nodes nested too deep",
            FdtError::TooLarge => "tree too large",
            FdtError::BadNode => "dangling node reference",
        };
        f.write_str(s)
    }
}

impl std::error::Error for FdtError {}

fn pad4(v: &mut Vec<u8>) {
    v.resize(v.len().next_multiple_of(4), 0);
}

/// The strings block: each property name once.
#[derive(Default)]
struct FdtStrings {
    bytes: Vec<u8>,
    offsets: std::collections::HashMap<String, u32>,
}

impl FdtStrings {
    fn offset(&mut self, name: &str) -> Result<u32, FdtError> {
        if let Some(&o) = self.offsets.get(name) {
            return Ok(o);
        }
        let o = u32::try_from(self.bytes.len()).map_err(|_| FdtError::TooLarge)?;
        self.bytes.extend(name.as_bytes());
        self.bytes.push(0);
        self.offsets.insert(name.to_string(), o);
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (DeviceTree, NodeId, NodeId) {
        let mut t = DeviceTree::new();
        let cpus = t.add_node(DeviceTree::ROOT, "cpus");
        let cpu = t.add_node(cpus, "PowerPC,POWER9@0");
        t.set_u32(cpu, "reg", 0);
        t.set_str(cpu, "device_type", "cpu");
        (t, cpus, cpu)
    }

    #[test]
    fn find_with_and_without_unit_address() {
        let (t, cpus, cpu) = sample();
        assert_eq!(t.find("/"), Some(DeviceTree::ROOT));
        assert_eq!(t.find("/cpus"), Some(cpus));
        assert_eq!(t.find("/cpus/PowerPC,POWER9@0"), Some(cpu));
        assert_eq!(t.find("/cpus/PowerPC,POWER9"), Some(cpu));
        assert_eq!(t.find("/cpus/PowerPC,POWER9@1"), None);
        assert_eq!(t.find("cpus"), None);
        assert_eq!(t.path(cpu), "/cpus/PowerPC,POWER9@0");
        assert_eq!(t.path(DeviceTree::ROOT), "/");
    }

    #[test]
    fn props_replace_and_iterate_in_order() {
        let (mut t, _, cpu) = sample();
        t.set_u32(cpu, "reg", 5);
        assert_eq!(t.prop(cpu, "reg"), Some(&[0, 0, 0, 5][..]));
        assert_eq!(t.next_prop(cpu, ""), Some("reg"));
        assert_eq!(t.next_prop(cpu, "reg"), Some("device_type"));
        assert_eq!(t.next_prop(cpu, "device_type"), None);
        assert_eq!(t.next_prop(cpu, "nonexistent"), None);
        assert_eq!(t.prop(cpu, "device_type"), Some(&b"cpu\0"[..]));
    }

    #[test]
    fn phandles_round_trip() {
        let (t, cpus, cpu) = sample();
        for id in [DeviceTree::ROOT, cpus, cpu] {
            let ph = t.node(id).map(|n| n.phandle);
            assert_eq!(ph.and_then(|p| t.by_phandle(p)), Some(id));
        }
        assert_eq!(t.by_phandle(0), None);
        assert_eq!(t.by_phandle(1000), None);
    }

    /// A flattened node as read back: its path and (property, value) pairs.
    type FlatNode = (String, Vec<(String, Vec<u8>)>);

    /// Reads an FDT blob back per the devicetree specification's layout: every node in order,
    /// and the boot CPU.
    fn parse_fdt(b: &[u8]) -> (Vec<FlatNode>, u32) {
        let w = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as usize;
        assert_eq!(w(0), 0xd00d_feed);
        assert_eq!(w(4), b.len());
        let (st, strs, rsv) = (w(8), w(12), w(16));
        assert_eq!((w(20), w(24)), (17, 16));
        assert_eq!(&b[rsv..rsv + 16], &[0; 16], "empty reservation map");
        assert_eq!(w(32), b.len() - strs, "strings size");
        assert_eq!(w(36), strs - st, "struct size");
        let cstr = |o: usize| {
            let e = o + b[o..].iter().position(|&c| c == 0).expect("NUL");
            String::from_utf8(b[o..e].to_vec()).expect("utf8")
        };
        let mut nodes: Vec<FlatNode> = Vec::new();
        let mut stack: Vec<String> = Vec::new();
        let mut o = st;
        loop {
            let tok = w(o);
            o += 4;
            match tok {
                1 => {
                    let name = cstr(o);
                    o = (o + name.len() + 1).next_multiple_of(4);
                    let path = match stack.last() {
                        None => "/".to_string(),
                        Some(p) if p == "/" => format!("/{name}"),
                        Some(p) => format!("{p}/{name}"),
                    };
                    stack.push(path.clone());
                    nodes.push((path, Vec::new()));
                }
                3 => {
                    let (len, nameoff) = (w(o), w(o + 4));
                    let val = b[o + 8..o + 8 + len].to_vec();
                    o = (o + 8 + len).next_multiple_of(4);
                    nodes
                        .last_mut()
                        .expect("node")
                        .1
                        .push((cstr(strs + nameoff), val));
                }
                2 => {
                    stack.pop();
                }
                9 => break,
                t => panic!("bad token {t}"),
            }
        }
        assert!(stack.is_empty());
        (nodes, w(28) as u32)
    }

    #[test]
    fn fdt_round_trips() {
        let (mut t, cpus, cpu) = sample();
        // Longer than the generic 31-character limit, as PAPR names are; odd lengths to
        // exercise padding.
        t.set_prop(cpu, "ibm,associativity-reference-points", cells(&[4, 4]));
        t.set_prop(cpus, "x", vec![1, 2, 3]);
        t.set_prop(cpus, "empty", Vec::new());
        let blob = t.to_fdt(3).expect("fdt");
        let (nodes, boot) = parse_fdt(&blob);
        assert_eq!(boot, 3);
        let ph = |id: NodeId| t.node(id).expect("node").phandle.to_be_bytes().to_vec();
        let p = |n: &str, v: Vec<u8>| (n.to_string(), v);
        assert_eq!(
            nodes,
            vec![
                ("/".to_string(), vec![p("phandle", ph(DeviceTree::ROOT))]),
                (
                    "/cpus".to_string(),
                    vec![
                        p("x", vec![1, 2, 3]),
                        p("empty", vec![]),
                        p("phandle", ph(cpus))
                    ]
                ),
                (
                    "/cpus/PowerPC,POWER9@0".to_string(),
                    vec![
                        p("reg", vec![0; 4]),
                        p("device_type", b"cpu\0".to_vec()),
                        p("ibm,associativity-reference-points", cells(&[4, 4])),
                        p("phandle", ph(cpu)),
                    ]
                ),
            ]
        );
        // Property names are stored once.
        let count = blob.windows(8).filter(|w| w == b"phandle\0").count();
        assert_eq!(count, 1);
    }

    #[test]
    fn machine_tree_flattens() {
        let cfg = crate::machine::MachineConfig {
            smp: 2,
            ..Default::default()
        };
        let t = crate::fdt::build(&cfg, Some((0x100_0000, 0x1000)));
        let (nodes, _) = parse_fdt(&t.to_fdt(0).expect("fdt"));
        assert_eq!(nodes.len(), t.len());
        for (id, (path, props)) in nodes.iter().enumerate() {
            assert_eq!(*path, t.path(id));
            assert_eq!(props.len(), t.props(id).len() + 1);
        }
    }

    #[test]
    fn walk_helpers() {
        let (mut t, cpus, cpu) = sample();
        let cpu1 = t.add_node(cpus, "PowerPC,POWER9@1");
        assert_eq!(t.first_child(DeviceTree::ROOT), Some(cpus));
        assert_eq!(t.first_child(cpus), Some(cpu));
        assert_eq!(t.next_sibling(cpu), Some(cpu1));
        assert_eq!(t.next_sibling(cpu1), None);
        assert_eq!(t.next_sibling(DeviceTree::ROOT), None);
        assert_eq!(t.parent(cpu1), Some(cpus));
        assert_eq!(t.parent(DeviceTree::ROOT), None);
        assert_eq!(t.parent(999), None);
        assert_eq!(t.by_type("cpu"), vec![cpu]);
        assert!(t.props(999).is_empty());
        // Out-of-range ids are ignored rather than panicking.
        t.set_prop(999, "x", vec![1]);
        assert_eq!(t.path(999), "/");
    }

    #[test]
    fn fdt_is_well_formed() {
        let (t, _, _) = sample();
        let blob = t.to_fdt(0).expect("fdt");
        // FDT header: magic, total size matching the blob.
        assert_eq!(&blob[0..4], &0xd00d_feedu32.to_be_bytes());
        assert_eq!(
            u32::from_be_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize,
            blob.len()
        );
        // The node name and a property string are in the blob.
        let has = |s: &[u8]| blob.windows(s.len()).any(|w| w == s);
        assert!(has(b"PowerPC,POWER9@0\0"));
        assert!(has(b"device_type\0"));
    }
}
