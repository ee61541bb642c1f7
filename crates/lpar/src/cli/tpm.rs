//! The TPM options: `-tpmdev emulator,id=ID,chardev=CHR` (a swtpm reached through the control
//! socket `-chardev socket,id=CHR,path=SOCK` names) and `-device tpm-spapr,tpmdev=ID[,reg=]`,
//! pseries' TPM (PowerVM's vTPM), QEMU's spellings.

use super::devices::vio_reg;
use super::keyval;
use spapr::wiring::DeviceConfig;

/// A `-tpmdev` as given.
#[derive(Clone, Debug)]
pub struct Tpmdev {
    pub origin: String,
    pub id: String,
    pub chardev: String,
}

/// Parses `-tpmdev TYPE,id=ID,...`.
pub fn tpmdev(opt: &str, v: &str) -> Result<Tpmdev, String> {
    let items = keyval(v, "type");
    let kind = items.first().map(|(_, t)| t.as_str()).unwrap_or("");
    match kind {
        "emulator" => {}
        "passthrough" => {
            return Err(format!(
                "{opt} {v}: passthrough needs a host TPM; not supported (use -tpmdev emulator with swtpm)"
            ))
        }
        _ => {
            return Err(format!(
                "{opt} {v}: unknown TPM backend type '{kind}' (lpar has emulator)"
            ))
        }
    }
    let (mut id, mut chardev) = (None, None);
    for (k, val) in &items[1..] {
        match k.as_str() {
            "id" => id = Some(val.clone()),
            "chardev" => chardev = Some(val.clone()),
            _ => {
                return Err(format!(
                    "{opt} {v}: unknown or unsupported property '{k}' of tpmdev emulator"
                ))
            }
        }
    }
    Ok(Tpmdev {
        origin: format!("{opt} {v}"),
        id: id.ok_or_else(|| format!("{opt} {v}: missing id="))?,
        chardev: chardev.ok_or_else(|| format!("{opt} {v}: missing chardev="))?,
    })
}

/// Whether `driver` is a TPM device of this module's.
pub fn handles(driver: &str) -> bool {
    matches!(driver, "tpm-spapr" | "spapr-tpm-proxy")
}

/// The chardev ids the other devices use (a TPM cannot share one).
fn chardev_users(devices: &[DeviceConfig]) -> Vec<&str> {
    devices
        .iter()
        .filter_map(|d| match d {
            DeviceConfig::SpaprVty { chardev, .. } => Some(chardev.id.as_str()),
            DeviceConfig::VirtioConsole {
                chardev: Some(c), ..
            } => Some(c.id.as_str()),
            _ => None,
        })
        .collect()
}

/// Resolves the pending TPM `-device`s against the `-tpmdev`s and `-chardev`s; `devices` are
/// the machine's others.
pub fn resolve(
    pending: &[(String, String)],
    tpmdevs: &[Tpmdev],
    chardevs: &[chardev::Config],
    devices: &[DeviceConfig],
) -> Result<Vec<DeviceConfig>, String> {
    for (i, t) in tpmdevs.iter().enumerate() {
        if tpmdevs[..i].iter().any(|o| o.id == t.id) {
            return Err(format!("{}: id={}: duplicate tpmdev id", t.origin, t.id));
        }
    }
    let mut out = Vec::new();
    for (opt, v) in pending {
        let items = keyval(v, "driver");
        let driver = items.first().map(|(_, d)| d.as_str()).unwrap_or("");
        if driver == "spapr-tpm-proxy" {
            return Err(format!(
                "{opt} {v}: not supported: it forwards H_TPM_COMM for secure guests under an \
                 ultravisor, which lpar does not emulate (use tpm-spapr)"
            ));
        }
        let (mut tpmdev, mut reg) = (None, None);
        for (k, val) in &items[1..] {
            match k.as_str() {
                "tpmdev" => tpmdev = Some(val.clone()),
                "reg" => reg = Some(vio_reg(opt, v, val)?),
                "id" => {}
                _ => {
                    return Err(format!(
                        "{opt} {v}: unknown or unsupported property '{k}' of {driver}"
                    ))
                }
            }
        }
        if !out.is_empty() {
            return Err(format!("{opt} {v}: at most one TPM device is permitted"));
        }
        let id = tpmdev.ok_or_else(|| format!("{opt} {v}: missing tpmdev="))?;
        let t = tpmdevs
            .iter()
            .find(|t| t.id == id)
            .ok_or_else(|| format!("{opt} {v}: tpmdev={id}: no -tpmdev with that id"))?;
        let c = chardevs.iter().find(|c| c.id == t.chardev).ok_or_else(|| {
            format!(
                "{}: chardev={}: no -chardev with that id",
                t.origin, t.chardev
            )
        })?;
        let socket = match &c.backend {
            chardev::Backend::Unix {
                path,
                server: false,
            } => path.clone(),
            _ => {
                return Err(format!(
                    "{}: chardev={}: must be a client socket on swtpm's control path \
                     (-chardev socket,id={},path=SOCK)",
                    t.origin, t.chardev, t.chardev
                ))
            }
        };
        if chardev_users(devices).contains(&c.id.as_str()) {
            return Err(format!(
                "{}: chardev={}: already in use",
                t.origin, t.chardev
            ));
        }
        out.push(DeviceConfig::TpmSpapr {
            tpmdev: id,
            socket,
            reg,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn chr(id: &str, backend: chardev::Backend) -> chardev::Config {
        chardev::Config {
            id: id.into(),
            backend,
        }
    }

    fn unix(path: &str, server: bool) -> chardev::Backend {
        chardev::Backend::Unix {
            path: PathBuf::from(path),
            server,
        }
    }

    fn dev(v: &str) -> (String, String) {
        ("-device".into(), v.into())
    }

    #[test]
    fn tpm_spapr_finds_its_swtpm_socket() {
        let t = vec![tpmdev("-tpmdev", "emulator,id=tpm0,chardev=chrtpm").unwrap()];
        let c = vec![chr("chrtpm", unix("/run/swtpm/sock", false))];
        let out = resolve(&[dev("tpm-spapr,tpmdev=tpm0,reg=0x71000009")], &t, &c, &[]).unwrap();
        match &out[..] {
            [DeviceConfig::TpmSpapr {
                tpmdev,
                socket,
                reg,
            }] => {
                assert_eq!(tpmdev, "tpm0");
                assert_eq!(socket, &PathBuf::from("/run/swtpm/sock"));
                assert_eq!(*reg, Some(0x7100_0009));
            }
            o => panic!("{o:?}"),
        }
        assert!(handles("tpm-spapr") && !handles("tpm-tis"));
    }

    #[test]
    fn bad_tpm_setups_name_the_culprit() {
        assert_eq!(
            tpmdev("-tpmdev", "passthrough,id=t,path=/dev/tpm0").unwrap_err(),
            "-tpmdev passthrough,id=t,path=/dev/tpm0: passthrough needs a host TPM; not supported (use -tpmdev emulator with swtpm)"
        );
        assert!(tpmdev("-tpmdev", "bogus,id=t")
            .unwrap_err()
            .contains("'bogus'"));
        assert!(tpmdev("-tpmdev", "emulator,chardev=c")
            .unwrap_err()
            .contains("missing id="));
        assert!(tpmdev("-tpmdev", "emulator,id=t")
            .unwrap_err()
            .contains("missing chardev="));
        assert!(tpmdev("-tpmdev", "emulator,id=t,chardev=c,x=1")
            .unwrap_err()
            .contains("'x'"));
        let t = vec![tpmdev("-tpmdev", "emulator,id=t,chardev=c").unwrap()];
        let good = vec![chr("c", unix("/s", false))];
        let e = |p: &[&str], t: &[Tpmdev], c: &[chardev::Config]| {
            let p: Vec<(String, String)> = p.iter().map(|v| dev(v)).collect();
            resolve(&p, t, c, &[]).unwrap_err()
        };
        assert_eq!(
            e(&["tpm-spapr"], &t, &good),
            "-device tpm-spapr: missing tpmdev="
        );
        assert_eq!(
            e(&["tpm-spapr,tpmdev=u"], &t, &good),
            "-device tpm-spapr,tpmdev=u: tpmdev=u: no -tpmdev with that id"
        );
        assert_eq!(
            e(&["tpm-spapr,tpmdev=t", "tpm-spapr,tpmdev=t"], &t, &good),
            "-device tpm-spapr,tpmdev=t: at most one TPM device is permitted"
        );
        assert_eq!(
            e(&["tpm-spapr,tpmdev=t"], &t, &[]),
            "-tpmdev emulator,id=t,chardev=c: chardev=c: no -chardev with that id"
        );
        assert!(
            e(&["tpm-spapr,tpmdev=t"], &t, &[chr("c", unix("/s", true))])
                .contains("must be a client socket")
        );
        assert!(e(
            &["tpm-spapr,tpmdev=t"],
            &t,
            &[chr("c", chardev::Backend::Null)]
        )
        .contains("must be a client socket"));
        assert!(e(&["spapr-tpm-proxy,host-path=/dev/tpmrm0"], &t, &good).contains("ultravisor"));
        let two = vec![t[0].clone(), t[0].clone()];
        assert_eq!(
            e(&["tpm-spapr,tpmdev=t"], &two, &good),
            "-tpmdev emulator,id=t,chardev=c: id=t: duplicate tpmdev id"
        );
        let vty = DeviceConfig::SpaprVty {
            chardev: good[0].clone(),
            reg: None,
        };
        let p = vec![dev("tpm-spapr,tpmdev=t")];
        assert_eq!(
            resolve(&p, &t, &good, &[vty]).unwrap_err(),
            "-tpmdev emulator,id=t,chardev=c: chardev=c: already in use"
        );
    }
}
