//! A strict checker of flattened device trees (devicetree specification v0.4, chapter 5): header
//! fields consistent with the blob, blocks inside it, aligned and not overlapping, a terminated
//! reservation map, and a structure block that parses to one balanced tree whose property names
//! are in the strings block. Returns the nodes, so targets can compare the content too.

/// One node: its full path and its properties in blob order.
#[derive(Debug, Default)]
pub struct Node {
    pub path: String,
    pub props: Vec<(String, Vec<u8>)>,
}

impl Node {
    pub fn prop(&self, name: &str) -> Option<&[u8]> {
        self.props
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

const MAGIC: u32 = 0xd00d_feed;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;
const HEADER: usize = 40;

fn be32(b: &[u8], at: usize) -> Result<u32, String> {
    at.checked_add(4)
        .and_then(|end| b.get(at..end))
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        .ok_or_else(|| format!("read past the end at {at:#x}"))
}

/// A NUL-terminated string starting at `at` in `b`, without the NUL.
fn cstr(b: &[u8], at: usize) -> Result<&str, String> {
    let tail = b.get(at..).ok_or("string outside its block")?;
    let n = tail
        .iter()
        .position(|&c| c == 0)
        .ok_or("unterminated string")?;
    std::str::from_utf8(&tail[..n]).map_err(|_| format!("string at {at:#x} is not UTF-8"))
}

fn align4(v: usize) -> usize {
    (v + 3) & !3
}

/// Checks `blob` and returns its nodes (depth first), or what is wrong.
pub fn check(blob: &[u8]) -> Result<Vec<Node>, String> {
    let h = |i: usize| be32(blob, 4 * i);
    if h(0)? != MAGIC {
        return Err("bad magic".into());
    }
    let total = h(1)? as usize;
    let (off_struct, off_strings, off_rsvmap) = (h(2)? as usize, h(3)? as usize, h(4)? as usize);
    let (version, last_comp) = (h(5)?, h(6)?);
    let (size_strings, size_struct) = (h(8)? as usize, h(9)? as usize);
    if total != blob.len() {
        return Err(format!("totalsize {total} but blob is {}", blob.len()));
    }
    if version < 17 || last_comp > 17 || last_comp > version {
        return Err(format!("version {version}, last compatible {last_comp}"));
    }
    if off_struct % 4 != 0 || off_rsvmap % 8 != 0 || size_struct % 4 != 0 {
        return Err("misaligned block".into());
    }
    // Blocks: [start, end) each inside the blob, after the header, pairwise disjoint.
    let struct_end = off_struct
        .checked_add(size_struct)
        .ok_or("struct overflow")?;
    let strings_end = off_strings
        .checked_add(size_strings)
        .ok_or("strings overflow")?;
    let rsv_len = rsvmap_len(blob, off_rsvmap)?;
    let blocks = [
        ("rsvmap", off_rsvmap, off_rsvmap + rsv_len),
        ("struct", off_struct, struct_end),
        ("strings", off_strings, strings_end),
    ];
    for (i, &(name, s, e)) in blocks.iter().enumerate() {
        if s < HEADER || e > total {
            return Err(format!("{name} block [{s:#x}, {e:#x}) outside the blob"));
        }
        for &(other, s2, e2) in &blocks[i + 1..] {
            if s < e2 && s2 < e {
                return Err(format!("{name} and {other} blocks overlap"));
            }
        }
    }
    let strings = &blob[off_strings..strings_end];
    let st = &blob[off_struct..struct_end];
    parse_struct(st, strings)
}

/// Length of the memory reservation map up to and including its (0, 0) terminator.
fn rsvmap_len(blob: &[u8], at: usize) -> Result<usize, String> {
    let mut p = at;
    loop {
        let addr = (be32(blob, p)? as u64) << 32 | be32(blob, p + 4)? as u64;
        let size = (be32(blob, p + 8)? as u64) << 32 | be32(blob, p + 12)? as u64;
        p += 16;
        if addr == 0 && size == 0 {
            return Ok(p - at);
        }
        if addr.checked_add(size).is_none() {
            return Err("reservation wraps around".into());
        }
    }
}

fn parse_struct(st: &[u8], strings: &[u8]) -> Result<Vec<Node>, String> {
    let mut nodes: Vec<Node> = Vec::new();
    // Open nodes: index in `nodes`, whether a child was seen (properties must come first), and
    // the names of the children so far (siblings must be distinct).
    let mut open: Vec<(usize, bool, Vec<String>)> = Vec::new();
    let mut p = 0;
    let mut ended = false;
    while p < st.len() {
        let tok = be32(st, p)?;
        p += 4;
        match tok {
            BEGIN_NODE => {
                if !nodes.is_empty() && open.is_empty() {
                    return Err("a second root node".into());
                }
                let name = cstr(st, p)?.to_string();
                p = align4(p + name.len() + 1);
                if name.contains('/') {
                    return Err(format!("node name {name:?} contains '/'"));
                }
                let path = match open.last_mut() {
                    None if !name.is_empty() => return Err("root node has a name".into()),
                    None => "/".to_string(),
                    Some((parent, child_seen, siblings)) => {
                        if name.is_empty() {
                            return Err("unnamed non-root node".into());
                        }
                        if siblings.contains(&name) {
                            return Err(format!("two nodes named {name:?} under one parent"));
                        }
                        siblings.push(name.clone());
                        *child_seen = true;
                        let pp = &nodes[*parent].path;
                        if pp == "/" {
                            format!("/{name}")
                        } else {
                            format!("{pp}/{name}")
                        }
                    }
                };
                open.push((nodes.len(), false, Vec::new()));
                nodes.push(Node {
                    path,
                    props: Vec::new(),
                });
            }
            END_NODE => {
                open.pop().ok_or("END_NODE without a node")?;
            }
            PROP => {
                let len = be32(st, p)? as usize;
                let nameoff = be32(st, p + 4)? as usize;
                p += 8;
                let &(idx, child_seen, _) = open.last().ok_or("property outside a node")?;
                if child_seen {
                    return Err(format!("property after a child in {}", nodes[idx].path));
                }
                if nameoff >= strings.len() {
                    return Err(format!("property name offset {nameoff:#x} outside strings"));
                }
                let name = cstr(strings, nameoff)?.to_string();
                if name.is_empty() {
                    return Err("empty property name".into());
                }
                let end = p.checked_add(len).ok_or("property length overflow")?;
                let value = st.get(p..end).ok_or("property value past the block")?;
                let node = &mut nodes[idx];
                if node.prop(&name).is_some() {
                    return Err(format!("{} has two {name:?} properties", node.path));
                }
                node.props.push((name, value.to_vec()));
                p = align4(end);
            }
            NOP => {}
            END => {
                ended = true;
                break;
            }
            t => return Err(format!("bad token {t:#x} at {:#x}", p - 4)),
        }
    }
    if !ended {
        return Err("no END token".into());
    }
    if p != st.len() {
        return Err("data after END in the structure block".into());
    }
    if !open.is_empty() {
        return Err("unclosed node".into());
    }
    if nodes.is_empty() {
        return Err("no root node".into());
    }
    Ok(nodes)
}
