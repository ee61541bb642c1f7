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

    /// Adds a child named `name` (with unit address if any) under `parent`.
    pub fn add_node(&mut self, parent: NodeId, name: &str) -> NodeId {
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

    /// Sets (adds or replaces) a property.
    pub fn set_prop(&mut self, id: NodeId, name: &str, value: impl Into<Vec<u8>>) {
        let value = value.into();
        let props = &mut self.nodes[id].props;
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
            let kids = &self.nodes[cur].children;
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

    /// The node's full path, `/` for the root.
    pub fn path(&self, id: NodeId) -> String {
        let mut parts = Vec::new();
        let mut cur = Some(id);
        while let Some(c) = cur {
            let n = &self.nodes[c];
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

    /// Flattens the tree into an FDT blob; every node carries its `phandle`.
    pub fn to_fdt(&self, boot_cpuid: u32) -> Result<Vec<u8>, vm_fdt::Error> {
        let mut w = vm_fdt::FdtWriter::new()?;
        w.set_boot_cpuid_phys(boot_cpuid);
        self.write_node(&mut w, Self::ROOT)?;
        w.finish()
    }

    fn write_node(&self, w: &mut vm_fdt::FdtWriter, id: NodeId) -> Result<(), vm_fdt::Error> {
        let n = &self.nodes[id];
        let h = w.begin_node(&n.name)?;
        for p in &n.props {
            w.property(&p.name, &p.value)?;
        }
        w.property_u32("phandle", n.phandle)?;
        for &c in &n.children {
            self.write_node(w, c)?;
        }
        w.end_node(h)
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
