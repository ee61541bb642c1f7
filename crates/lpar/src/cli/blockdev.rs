//! `-blockdev`: QEMU's block node graph for the common cases — a `file` node (the image file),
//! optionally under a format node (`raw` or `qcow2`) whose `file=` names it or nests it
//! (`file.driver=file,file.filename=...`), in key=value or JSON form. Each top node becomes a
//! drive a `-device ...,drive=NODE-NAME` can use.

use super::devices::{node_drive, Drive};
use super::{boolean, keyval};
use std::path::PathBuf;

/// One node, its options flattened to dotted keys (`file.filename`).
#[derive(Clone, Debug)]
pub struct Node {
    opt: String,
    text: String,
    keys: Vec<(String, String)>,
}

impl Node {
    fn get(&self, k: &str) -> Option<&str> {
        self.keys
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    fn err(&self, what: &str) -> String {
        format!("{} {}: {what}", self.opt, self.text)
    }
}

/// Parses one `-blockdev` (key=value list, or a JSON object as QEMU accepts).
pub fn blockdev(opt: &str, v: &str) -> Result<Node, String> {
    let keys = if v.trim_start().starts_with('{') {
        let j: serde_json::Value =
            serde_json::from_str(v).map_err(|e| format!("{opt} {v}: bad JSON: {e}"))?;
        let mut keys = Vec::new();
        flatten("", &j, &mut keys).map_err(|e| format!("{opt} {v}: {e}"))?;
        keys
    } else {
        keyval(v, "")
    };
    Ok(Node {
        opt: opt.to_string(),
        text: v.to_string(),
        keys,
    })
}

fn flatten(
    prefix: &str,
    v: &serde_json::Value,
    out: &mut Vec<(String, String)>,
) -> Result<(), String> {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out)?;
            }
        }
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        serde_json::Value::Bool(b) => {
            out.push((prefix.to_string(), if *b { "on" } else { "off" }.into()))
        }
        serde_json::Value::Number(n) => out.push((prefix.to_string(), n.to_string())),
        serde_json::Value::Null => out.push((prefix.to_string(), String::new())),
        serde_json::Value::Array(_) => return Err(format!("{prefix}: arrays are not supported")),
    }
    Ok(())
}

/// What one `file` node (top-level or nested under `prefix`) says.
struct FileNode {
    path: PathBuf,
    read_only: bool,
    cache: block::Cache,
    /// `cache.direct=on`: O_DIRECT.
    direct: bool,
}

fn file_node(n: &Node, prefix: &str) -> Result<FileNode, String> {
    let key = |k: &str| format!("{prefix}{k}");
    let mut f = FileNode {
        path: PathBuf::new(),
        read_only: false,
        cache: block::Cache::Writeback,
        direct: false,
    };
    let on_off =
        |k: &str, v: &str| boolean(v).ok_or_else(|| n.err(&format!("{k}={v}: expected on or off")));
    let mut path = None;
    for (k, v) in &n.keys {
        let Some(rest) = k.strip_prefix(prefix) else {
            continue;
        };
        match rest {
            "driver" if v == "file" || v == "host_device" => {}
            "driver" => {
                return Err(n.err(&format!(
                    "{k}={v}: driver not supported yet (file, raw, qcow2)"
                )))
            }
            "filename" => path = Some(PathBuf::from(v)),
            "node-name" | "aio" | "locking" | "discard" | "detect-zeroes" | "auto-read-only" => {}
            "read-only" => f.read_only = on_off(k, v)?,
            "cache.no-flush" if on_off(k, v)? => f.cache = block::Cache::Unsafe,
            "cache.no-flush" => {}
            "cache.direct" => f.direct = on_off(k, v)?,
            _ => return Err(n.err(&format!("unknown or unsupported property '{k}'"))),
        }
    }
    f.path = path.ok_or_else(|| n.err(&format!("missing {}", key("filename"))))?;
    Ok(f)
}

/// Turns the nodes into drives named by their node-name (format nodes take their file nodes).
pub fn drives(nodes: &[Node]) -> Result<Vec<Drive>, String> {
    let mut taken = vec![false; nodes.len()];
    let mut out: Vec<(usize, Drive)> = Vec::new();
    let name = |n: &Node| {
        n.get("node-name")
            .map(str::to_string)
            .ok_or_else(|| n.err("missing node-name="))
    };
    for (i, n) in nodes.iter().enumerate() {
        let format = match n.get("driver") {
            Some("file") | Some("host_device") => continue,
            Some("raw") => block::Format::Raw,
            Some("qcow2") => block::Format::Qcow2,
            Some(d) => {
                return Err(n.err(&format!("driver={d}: not supported yet (file, raw, qcow2)")))
            }
            None => return Err(n.err("missing driver=")),
        };
        let id = name(n)?;
        let read_only = match n.get("read-only") {
            Some(v) => {
                boolean(v).ok_or_else(|| n.err(&format!("read-only={v}: expected on or off")))?
            }
            None => false,
        };
        for (k, v) in &n.keys {
            match k.as_str() {
                "driver" | "node-name" | "read-only" | "file" | "discard" | "detect-zeroes"
                | "auto-read-only" => {}
                // A qcow2's backing file comes from its header; "null" (none) is the only other
                // choice QEMU's command line makes, and lpar does not offer it.
                "backing" if v.is_empty() => {
                    return Err(n.err(
                        "backing=null is not supported (the image's own backing file is used)",
                    ))
                }
                k if k.starts_with("file.") => {}
                _ => return Err(n.err(&format!("unknown or unsupported property '{k}'"))),
            }
        }
        // The file: nested options, or another node's name.
        let file = if n.keys.iter().any(|(k, _)| k.starts_with("file.")) {
            file_node(n, "file.")?
        } else {
            let child = n.get("file").ok_or_else(|| n.err("missing file="))?;
            let j = nodes
                .iter()
                .position(|c| c.get("node-name") == Some(child))
                .ok_or_else(|| n.err(&format!("file={child}: no -blockdev with that node-name")))?;
            if taken[j] {
                return Err(n.err(&format!("file={child}: node already in use")));
            }
            taken[j] = true;
            file_node(&nodes[j], "")?
        };
        let opts = block::Options {
            path: file.path,
            format: Some(format),
            read_only: read_only || file.read_only,
            cache: file.cache,
            direct: file.direct,
            ..Default::default()
        };
        out.push((i, node_drive(id, opts)));
    }
    // File nodes no format node took are raw drives of their own.
    for (i, n) in nodes.iter().enumerate() {
        if taken[i] || !matches!(n.get("driver"), Some("file") | Some("host_device")) {
            continue;
        }
        let f = file_node(n, "")?;
        let opts = block::Options {
            path: f.path,
            format: Some(block::Format::Raw),
            read_only: f.read_only,
            cache: f.cache,
            direct: f.direct,
            ..Default::default()
        };
        out.push((i, node_drive(name(n)?, opts)));
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, d)| d).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(list: &[&str]) -> Vec<Node> {
        list.iter()
            .map(|v| blockdev("-blockdev", v).unwrap())
            .collect()
    }

    #[test]
    fn format_nodes_take_their_files_in_every_spelling() {
        let d = drives(&nodes(&[
            "driver=file,node-name=f0,filename=a.qcow2",
            "driver=qcow2,node-name=d0,file=f0",
            "driver=raw,node-name=d1,file.driver=file,file.filename=b.img,read-only=on",
            r#"{"driver":"qcow2","node-name":"d2","file":{"driver":"file","filename":"c.qcow2","cache":{"no-flush":true}}}"#,
            "driver=file,node-name=bare,filename=d.img",
            "driver=raw,node-name=d3,file.driver=file,file.filename=e.img,file.cache.direct=on",
        ]))
        .unwrap();
        let by = |id: &str| d.iter().find(|x| x.id.as_deref() == Some(id)).unwrap();
        assert_eq!(d.len(), 5);
        assert!(by("d3").opts.direct && !by("d0").opts.direct);
        assert_eq!(by("d0").opts.path.as_os_str(), "a.qcow2");
        assert_eq!(by("d0").opts.format, Some(block::Format::Qcow2));
        assert!(by("d1").opts.read_only);
        assert_eq!(by("d2").opts.cache, block::Cache::Unsafe);
        assert_eq!(by("bare").opts.format, Some(block::Format::Raw));
    }

    #[test]
    fn bad_graphs_name_the_culprit() {
        let e = |l: &[&str]| drives(&nodes(l)).unwrap_err();
        assert!(e(&["driver=qcow2,node-name=d,file=nope"]).contains("file=nope"));
        assert!(e(&["driver=vmdk,node-name=d,file=x"]).contains("driver=vmdk"));
        assert!(e(&["driver=qcow2,file.driver=file,file.filename=x"]).contains("node-name"));
        assert!(e(&["driver=raw,node-name=d,file.driver=file"]).contains("file.filename"));
        assert!(e(&[
            "driver=file,node-name=f,filename=x",
            "driver=raw,node-name=a,file=f",
            "driver=raw,node-name=b,file=f"
        ])
        .contains("already in use"));
        assert!(blockdev("-blockdev", "{bad")
            .unwrap_err()
            .contains("bad JSON"));
    }
}
