//! Networking options: `-netdev user|tap,id=...` (the backends), the NICs that name them
//! (`-device spapr-vlan|virtio-net-pci,netdev=ID`, resolved in `devices::resolve`), and the
//! shorthands that make both at once: `-nic TYPE[,model=M][,mac=]...` and the legacy
//! `-net nic[,model=] -net user|tap`. pseries' default NIC model is spapr-vlan, as in QEMU.

use super::devices::{pci_addr, pci_bus, virtio_interface};
use super::{boolean, keyval, number};
use ::devices::virtio::net::NetOptions;
use net::{HostFwd, NetdevConfig, NetdevKind, TapConfig, UserConfig};
use spapr::wiring::DeviceConfig;
use std::path::PathBuf;

/// A NIC the shorthands asked for: its model, MAC and backend id.
#[derive(Clone, Debug)]
pub struct Nic {
    pub origin: String,
    pub model: String,
    pub mac: Option<[u8; 6]>,
    pub netdev: String,
}

/// Parses `aa:bb:cc:dd:ee:ff` (a unicast address).
pub fn mac(opt: &str, v: &str, s: &str) -> Result<[u8; 6], String> {
    let bad = || format!("{opt} {v}: mac={s}: invalid MAC address (expected xx:xx:xx:xx:xx:xx)");
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut m = [0u8; 6];
    for (d, p) in m.iter_mut().zip(parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *d = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if m[0] & 1 != 0 {
        return Err(format!(
            "{opt} {v}: mac={s}: a multicast address cannot be a NIC's"
        ));
    }
    Ok(m)
}

/// QEMU's default MAC of the `n`th NIC: 52:54:00:12:34:56, then :57...
pub fn default_mac(n: usize) -> [u8; 6] {
    [0x52, 0x54, 0x00, 0x12, 0x34, 0x56u8.wrapping_add(n as u8)]
}

/// Applies one backend option; false if `k` is not an option of this backend type.
fn backend_option(
    opt: &str,
    v: &str,
    kind: &mut NetdevKind,
    k: &str,
    val: &str,
) -> Result<bool, String> {
    let flag =
        |val: &str| boolean(val).ok_or_else(|| format!("{opt} {v}: {k}={val}: expected on or off"));
    match kind {
        NetdevKind::User(u) => match k {
            "net" => u.set_net(val).map_err(|e| format!("{opt} {v}: net={val}: {e}"))?,
            "host" | "dhcpstart" | "dns" => {
                let a = val
                    .parse()
                    .map_err(|_| format!("{opt} {v}: {k}={val}: not an IPv4 address"))?;
                match k {
                    "host" => u.host = a,
                    "dhcpstart" => u.dhcp_start = a,
                    _ => u.dns = a,
                }
            }
            "restrict" => u.restrict = flag(val)?,
            "ipv6" => u.ipv6 = flag(val)?,
            "ipv4" if flag(val)? => {}
            "ipv4" => return Err(format!("{opt} {v}: ipv4=off is not supported")),
            "hostname" => u.hostname = Some(val.to_string()),
            "domainname" => u.domainname = Some(val.to_string()),
            "tftp" => u.tftp = Some(PathBuf::from(val)),
            "bootfile" => u.bootfile = Some(val.to_string()),
            "hostfwd" => u
                .hostfwd
                .push(HostFwd::parse(val).map_err(|e| format!("{opt} {v}: {e}"))?),
            "guestfwd" | "smb" | "smbserver" | "dnssearch" | "domain" | "ipv6-net"
            | "ipv6-host" | "ipv6-dns" => {
                return Err(format!("{opt} {v}: {k}= is not supported yet"))
            }
            _ => return Ok(false),
        },
        NetdevKind::Tap(t) => match k {
            "ifname" => t.ifname = Some(val.to_string()),
            "fd" => {
                t.fd = Some(
                    number(val)
                        .and_then(|n| i32::try_from(n).ok())
                        .ok_or_else(|| format!("{opt} {v}: fd={val}: not a file descriptor"))?,
                )
            }
            "script" | "downscript" => {
                let p = (val != "no" && !val.is_empty()).then(|| PathBuf::from(val));
                if k == "script" {
                    t.script = p;
                } else {
                    t.downscript = p;
                }
            }
            "vnet_hdr" => t.vnet_hdr = Some(flag(val)?),
            "vhost" | "vhostforce" if !flag(val)? => {}
            "vhost" | "vhostforce" => {
                return Err(format!(
                    "{opt} {v}: {k}=on: vhost-net is not supported (lpar runs the virtio-net datapath itself)"
                ))
            }
            "queues" => {
                t.queues = number(val)
                    .filter(|n| (1..=16).contains(n))
                    .ok_or_else(|| format!("{opt} {v}: queues={val}: expected 1-16"))?
                    as u16
            }
            "helper" | "fds" | "vhostfd" | "vhostfds" => {
                return Err(format!("{opt} {v}: {k}= is not supported yet"))
            }
            _ => return Ok(false),
        },
    }
    Ok(true)
}

/// A backend of type `ty` with default options.
fn new_kind(opt: &str, v: &str, ty: &str) -> Result<NetdevKind, String> {
    Ok(match ty {
        "user" => NetdevKind::User(UserConfig::default()),
        "tap" => NetdevKind::Tap(TapConfig::default()),
        "socket" | "stream" | "dgram" | "bridge" | "l2tpv3" | "vde" | "vhost-user"
        | "vhost-vdpa" | "hubport" | "af-xdp" => {
            return Err(format!(
                "{opt} {v}: netdev type '{ty}' is not supported yet (user, tap)"
            ))
        }
        "" => return Err(format!("{opt} {v}: missing the netdev type (user, tap)")),
        _ => return Err(format!("{opt} {v}: unknown netdev type '{ty}' (user, tap)")),
    })
}

/// `-netdev TYPE,id=ID,...`.
pub fn netdev(opt: &str, v: &str) -> Result<NetdevConfig, String> {
    let items = keyval(v, "type");
    let ty = items.first().map(|(_, t)| t.as_str()).unwrap_or("");
    let mut kind = new_kind(opt, v, ty)?;
    let mut id = None;
    for (k, val) in &items[1..] {
        match k.as_str() {
            "id" => id = Some(val.clone()),
            _ if backend_option(opt, v, &mut kind, k, val)? => {}
            _ => {
                return Err(format!(
                    "{opt} {v}: unknown option '{k}' of netdev type {ty}"
                ))
            }
        }
    }
    let id = id
        .filter(|i| !i.is_empty())
        .ok_or_else(|| format!("{opt} {v}: missing id="))?;
    if let NetdevKind::User(u) = &kind {
        u.validate().map_err(|e| format!("{opt} {v}: {e}"))?;
    }
    Ok(NetdevConfig { id, kind })
}

/// NIC models the shorthands accept.
fn model(opt: &str, v: &str, m: &str) -> Result<String, String> {
    match m {
        "spapr-vlan" | "ibmveth" => Ok("spapr-vlan".into()),
        "virtio" | "virtio-net-pci" | "virtio-net" => Ok("virtio-net-pci".into()),
        "help" | "?" => Err(format!(
            "{opt} {v}: NIC models: spapr-vlan (ibmveth, the default), virtio-net-pci (virtio)"
        )),
        _ => Err(format!(
            "{opt} {v}: model={m}: unknown or unsupported NIC model (spapr-vlan, virtio-net-pci)"
        )),
    }
}

/// `-nic TYPE[,id=][,model=][,mac=][,backend options]`: a backend and a NIC on it. The
/// backend's id is `__nicN` unless given.
pub fn nic(opt: &str, v: &str, n: usize) -> Result<(NetdevConfig, Nic), String> {
    let items = keyval(v, "type");
    let ty = items.first().map(|(_, t)| t.as_str()).unwrap_or("");
    let mut kind = new_kind(opt, v, ty)?;
    let (mut id, mut m, mut mc) = (None, "spapr-vlan".to_string(), None);
    for (k, val) in &items[1..] {
        match k.as_str() {
            "id" => id = Some(val.clone()),
            "model" => m = model(opt, v, val)?,
            "mac" => mc = Some(mac(opt, v, val)?),
            _ if backend_option(opt, v, &mut kind, k, val)? => {}
            _ => return Err(format!("{opt} {v}: unknown option '{k}'")),
        }
    }
    if let NetdevKind::User(u) = &kind {
        u.validate().map_err(|e| format!("{opt} {v}: {e}"))?;
    }
    let id = id.unwrap_or_else(|| format!("__nic{n}"));
    let nic = Nic {
        origin: format!("{opt} {v}"),
        model: m,
        mac: mc,
        netdev: id.clone(),
    };
    Ok((NetdevConfig { id, kind }, nic))
}

/// The legacy `-net` options: NICs and backends connected in order of appearance.
#[derive(Default)]
pub struct Legacy {
    nics: Vec<(String, String, Option<[u8; 6]>)>,
    backends: Vec<(String, NetdevKind)>,
}

impl Legacy {
    /// `-net nic[,model=][,macaddr=]` or `-net user|tap[,...]`.
    pub fn add(&mut self, opt: &str, v: &str) -> Result<(), String> {
        let items = keyval(v, "type");
        let ty = items.first().map(|(_, t)| t.as_str()).unwrap_or("");
        if ty == "nic" {
            let (mut m, mut mc) = ("spapr-vlan".to_string(), None);
            for (k, val) in &items[1..] {
                match k.as_str() {
                    "model" => m = model(opt, v, val)?,
                    "macaddr" | "mac" => mc = Some(mac(opt, v, val)?),
                    "name" | "id" | "vlan" if k != "vlan" || val == "0" => {}
                    "netdev" => {
                        return Err(format!(
                            "{opt} {v}: use -device {m},netdev={val} to connect a NIC to a -netdev"
                        ))
                    }
                    _ => return Err(format!("{opt} {v}: unknown or unsupported option '{k}'")),
                }
            }
            self.nics.push((format!("{opt} {v}"), m, mc));
            return Ok(());
        }
        let mut kind = new_kind(opt, v, ty)?;
        for (k, val) in &items[1..] {
            match k.as_str() {
                "name" | "id" => {}
                "vlan" if val == "0" => {}
                _ if backend_option(opt, v, &mut kind, k, val)? => {}
                _ => return Err(format!("{opt} {v}: unknown or unsupported option '{k}'")),
            }
        }
        if let NetdevKind::User(u) = &kind {
            u.validate().map_err(|e| format!("{opt} {v}: {e}"))?;
        }
        self.backends.push((format!("{opt} {v}"), kind));
        Ok(())
    }

    /// Pairs the NICs with the backends, first with first (a hub of more than one NIC or
    /// backend would need a switch lpar does not have).
    pub fn finish(self) -> Result<(Vec<NetdevConfig>, Vec<Nic>), String> {
        if self.nics.len() > 1 || self.backends.len() > 1 {
            let o = if self.nics.len() > 1 {
                &self.nics[1].0
            } else {
                &self.backends[1].0
            };
            return Err(format!(
                "{o}: only one -net nic with one -net backend is supported (use -nic or -netdev)"
            ));
        }
        let mut netdevs = Vec::new();
        let mut nics = Vec::new();
        match (
            self.nics.into_iter().next(),
            self.backends.into_iter().next(),
        ) {
            (Some((origin, model, mac)), Some((_, kind))) => {
                let id = "__net0".to_string();
                netdevs.push(NetdevConfig {
                    id: id.clone(),
                    kind,
                });
                nics.push(Nic {
                    origin,
                    model,
                    mac,
                    netdev: id,
                });
            }
            (Some((origin, _, _)), None) => {
                return Err(format!(
                    "{origin}: no -net user or -net tap to connect it to"
                ))
            }
            (None, Some((origin, _))) => {
                return Err(format!("{origin}: no -net nic to connect it to"))
            }
            (None, None) => {}
        }
        Ok((netdevs, nics))
    }
}

/// Resolves the NICs (`-device` ones in `pending` as (option, value), then the shorthands')
/// against the backends; every backend serves one NIC.
pub fn resolve(
    pending: &[(String, String)],
    netdevs: &[NetdevConfig],
    nics: &[Nic],
) -> Result<Vec<DeviceConfig>, String> {
    for (i, n) in netdevs.iter().enumerate() {
        if netdevs[..i].iter().any(|p| p.id == n.id) {
            return Err(format!("-netdev id={}: duplicate netdev id", n.id));
        }
    }
    let mut used = vec![false; netdevs.len()];
    let mut take = |origin: &str, id: &str| -> Result<NetdevConfig, String> {
        let i = netdevs
            .iter()
            .position(|n| n.id == id)
            .ok_or_else(|| format!("{origin}: netdev={id}: no -netdev with that id"))?;
        if used[i] {
            return Err(format!(
                "{origin}: netdev={id}: already used by another NIC"
            ));
        }
        used[i] = true;
        Ok(netdevs[i].clone())
    };
    let mut out = Vec::new();
    for (opt, v) in pending {
        let items = keyval(v, "driver");
        let driver = items.first().map(|(_, d)| d.as_str()).unwrap_or("");
        let origin = format!("{opt} {v}");
        let (mut netdev, mut mc, mut reg) = (None, None, None);
        let virtio = driver != "spapr-vlan";
        // QEMU's defaults: every offload on (offered only over a tap), multiqueue off.
        let mut o = NetOptions {
            mq: false,
            ..NetOptions::default()
        };
        let (mut bus, mut slot) = (0, None);
        for (k, val) in &items[1..] {
            let flag =
                || boolean(val).ok_or_else(|| format!("{origin}: {k}={val}: expected on or off"));
            match k.as_str() {
                "netdev" => netdev = Some(val.clone()),
                "mac" => mc = Some(mac(opt, v, val)?),
                "reg" if !virtio => reg = Some(super::devices::vio_reg(opt, v, val)?),
                "id" | "bootindex" => {}
                "bus" if virtio => bus = pci_bus(opt, v, val)?,
                "addr" if virtio => slot = Some(pci_addr(opt, v, val)?),
                "csum" if virtio => o.csum = flag()?,
                "guest_csum" if virtio => o.guest_csum = flag()?,
                "gso" | "host_tso4" | "host_tso6" | "host_ecn" | "host_ufo" if virtio => {
                    o.gso = flag()?
                }
                "guest_tso4" if virtio => o.guest_tso4 = flag()?,
                "guest_tso6" if virtio => o.guest_tso6 = flag()?,
                "guest_ecn" if virtio => o.guest_ecn = flag()?,
                "guest_ufo" if virtio => o.guest_ufo = flag()?,
                "mrg_rxbuf" if virtio => o.mrg_rxbuf = flag()?,
                "mq" if virtio => o.mq = flag()?,
                "ctrl_vq" if virtio => o.ctrl_vq = flag()?,
                "status" if virtio => o.status = flag()?,
                "host_mtu" if virtio => {
                    o.mtu = Some(
                        number(val)
                            .filter(|n| (68..=65535).contains(n))
                            .ok_or_else(|| format!("{origin}: host_mtu={val}: expected 68-65535"))?
                            as u16,
                    )
                }
                // Vector count and the rest of the transport are lpar's choice.
                "vectors" if virtio && number(val).is_some() => {}
                _ if virtio && virtio_interface(opt, v, k, val)? => {}
                _ => {
                    return Err(format!(
                        "{origin}: unknown or unsupported property '{k}' of {driver}"
                    ))
                }
            }
        }
        let id = netdev.ok_or_else(|| format!("{origin}: missing netdev="))?;
        let netdev = take(&origin, &id)?;
        let mac = mc.unwrap_or_else(|| default_mac(out.len()));
        out.push(if virtio {
            DeviceConfig::VirtioNet {
                netdev,
                mac,
                opts: o,
                bus,
                slot,
            }
        } else {
            DeviceConfig::SpaprVlan { netdev, mac, reg }
        });
    }
    for nic in nics {
        let netdev = take(&nic.origin, &nic.netdev)?;
        let mac = nic.mac.unwrap_or_else(|| default_mac(out.len()));
        match nic.model.as_str() {
            "spapr-vlan" => out.push(DeviceConfig::SpaprVlan {
                netdev,
                mac,
                reg: None,
            }),
            _ => out.push(DeviceConfig::VirtioNet {
                netdev,
                mac,
                opts: NetOptions {
                    mq: false,
                    ..NetOptions::default()
                },
                bus: 0,
                slot: None,
            }),
        }
    }
    Ok(out)
}

/// Whether `driver` is a NIC this module resolves.
pub fn handles(driver: &str) -> bool {
    matches!(driver, "spapr-vlan" | "virtio-net-pci" | "virtio-net")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netdev_user_and_tap() {
        let n = netdev(
            "-netdev",
            "user,id=n0,hostfwd=tcp::2222-:22,restrict=on,hostname=g",
        )
        .unwrap();
        assert_eq!(n.id, "n0");
        let NetdevKind::User(u) = n.kind else {
            panic!("user")
        };
        assert!(u.restrict);
        assert_eq!(u.hostfwd.len(), 1);
        assert_eq!(u.hostfwd[0].host_port, 2222);
        assert_eq!(u.hostname.as_deref(), Some("g"));
        let n = netdev(
            "-netdev",
            "tap,id=t0,ifname=lp0,script=no,downscript=no,vhost=off,queues=2",
        )
        .unwrap();
        let NetdevKind::Tap(t) = n.kind else {
            panic!("tap")
        };
        assert_eq!(t.ifname.as_deref(), Some("lp0"));
        assert_eq!((t.script, t.downscript, t.queues), (None, None, 2));
    }

    #[test]
    fn netdev_errors_name_the_culprit() {
        let e = |v: &str| netdev("-netdev", v).unwrap_err();
        assert_eq!(e("user"), "-netdev user: missing id=");
        assert!(e("bogus,id=x").contains("unknown netdev type 'bogus'"));
        assert!(e("socket,id=x").contains("not supported yet"));
        assert!(
            e("user,id=x,hostfwd=tcp::0-:22").contains("hostfwd")
                || e("user,id=x,hostfwd=tcp::0-:22").contains("forwarding")
        );
        assert!(e("user,id=x,frob=1").contains("'frob'"));
        assert!(e("tap,id=x,vhost=on").contains("vhost"));
        assert!(e("user,id=x,net=10.0.2.0/33").contains("net="));
        assert!(e("user,id=x,restrict=maybe").contains("restrict=maybe"));
    }

    #[test]
    fn macs() {
        assert_eq!(
            mac("-device", "x", "52:54:00:ab:CD:01").unwrap(),
            [0x52, 0x54, 0, 0xab, 0xcd, 1]
        );
        for bad in [
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:0g",
            "5254.00ab.cd01",
            "52:54:00:ab:cd:100",
        ] {
            assert!(
                mac("-device", "x", bad)
                    .unwrap_err()
                    .contains("invalid MAC"),
                "{bad}"
            );
        }
        assert!(mac("-device", "x", "01:00:5e:00:00:01")
            .unwrap_err()
            .contains("multicast"));
        assert_eq!(default_mac(1), [0x52, 0x54, 0, 0x12, 0x34, 0x57]);
    }

    #[test]
    fn nic_shorthand_defaults_to_spapr_vlan() {
        let (n, nic) = nic("-nic", "user,hostfwd=tcp::8080-:80", 0).unwrap();
        assert_eq!(
            (n.id.as_str(), nic.model.as_str()),
            ("__nic0", "spapr-vlan")
        );
        let (_, nic) =
            super::nic("-nic", "user,model=virtio-net-pci,mac=52:54:00:00:00:09", 1).unwrap();
        assert_eq!(nic.model, "virtio-net-pci");
        assert_eq!(nic.mac, Some([0x52, 0x54, 0, 0, 0, 9]));
        assert!(super::nic("-nic", "user,model=e1000", 0)
            .unwrap_err()
            .contains("model=e1000"));
    }

    #[test]
    fn legacy_net_pairs_one_nic_with_one_backend() {
        let mut l = Legacy::default();
        l.add("-net", "nic,model=virtio").unwrap();
        l.add("-net", "user,hostfwd=tcp::2222-:22").unwrap();
        let (n, nics) = l.finish().unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(nics[0].model, "virtio-net-pci");
        assert_eq!(nics[0].netdev, n[0].id);
        let mut l = Legacy::default();
        l.add("-net", "nic").unwrap();
        assert!(l.finish().unwrap_err().contains("no -net user"));
        let mut l = Legacy::default();
        l.add("-net", "user").unwrap();
        l.add("-net", "user").unwrap();
        l.add("-net", "nic").unwrap();
        assert!(l.finish().unwrap_err().contains("only one"));
    }

    #[test]
    fn nics_find_their_backends_once() {
        let nd = vec![
            netdev("-netdev", "user,id=a").unwrap(),
            netdev("-netdev", "user,id=b").unwrap(),
        ];
        let p = |v: &str| ("-device".to_string(), v.to_string());
        let d = resolve(
            &[
                p("spapr-vlan,netdev=b,mac=52:54:00:00:00:01,reg=0x71000010"),
                p("spapr-vlan,netdev=a"),
            ],
            &nd,
            &[],
        )
        .unwrap();
        match &d[..] {
            [DeviceConfig::SpaprVlan {
                netdev: n0,
                mac: m0,
                reg: r0,
            }, DeviceConfig::SpaprVlan {
                netdev: n1,
                mac: m1,
                reg: None,
            }] => {
                assert_eq!((n0.id.as_str(), n1.id.as_str()), ("b", "a"));
                assert_eq!(*m0, [0x52, 0x54, 0, 0, 0, 1]);
                assert_eq!(*r0, Some(0x7100_0010));
                assert_eq!(*m1, default_mac(1));
            }
            _ => panic!("{d:?}"),
        }
        let e = |pend: &[(String, String)]| resolve(pend, &nd, &[]).unwrap_err();
        assert_eq!(
            e(&[p("spapr-vlan,netdev=zz")]),
            "-device spapr-vlan,netdev=zz: netdev=zz: no -netdev with that id"
        );
        assert!(e(&[p("spapr-vlan,netdev=a"), p("spapr-vlan,netdev=a")]).contains("already used"));
        assert!(e(&[p("spapr-vlan")]).contains("missing netdev="));
        assert!(e(&[p("spapr-vlan,netdev=a,mac=zz")]).contains("invalid MAC"));
        let dup = vec![nd[0].clone(), nd[0].clone()];
        assert_eq!(
            resolve(&[], &dup, &[]).unwrap_err(),
            "-netdev id=a: duplicate netdev id"
        );
    }
}
