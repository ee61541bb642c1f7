//! `-drive`, `-cdrom`, `-object`, and the `-device`s on the PCI side (spapr-pci-host-bridge,
//! virtio-blk-pci, virtio-rng-pci, virtio-balloon-pci, virtio-scsi-pci with its scsi-hd and
//! scsi-cd units): QEMU's spellings, resolved into the machine's device list once the whole
//! command line is read (a `-device` may name a `-drive`, `-object` or SCSI controller given
//! after it).
//!
//! `-drive if=scsi` (pseries' default interface in QEMU), `-hda`..`-hdd` (`index=0..3`) and
//! `-cdrom FILE` (`media=cdrom,index=2`) go on the machine's default SCSI bus: a spapr-vscsi
//! added for them, as QEMU's pseries does. `index=N` is SCSI id N (QEMU's unit
//! N % 7 of bus N / 7: only bus 0 exists here); without one a disk takes the first free id and
//! the CD-ROM id 2 when that is free. LUN 0.

use super::{boolean, keyval, number};
use spapr::wiring::{
    DeviceConfig, ScsiDiskConfig, SCSI_MAX_LUN, SCSI_MAX_QUEUES, SCSI_MAX_TARGET, VSCSI_MAX_LUN,
    VSCSI_MAX_TARGET,
};
use std::path::PathBuf;

/// Where a drive is attached (`if=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    /// A virtio-blk-pci device of its own.
    Virtio,
    /// Only for a `-device ...,drive=ID` (or `-global spapr-nvram.drive=ID`).
    None,
    /// The machine's flash: on pseries, the image behind spapr-nvram.
    Pflash,
    /// `if=scsi`, `-hda`, `-cdrom`: a scsi-hd or scsi-cd on the default SCSI controller.
    Scsi,
}

#[derive(Clone, Debug)]
pub struct Drive {
    pub id: Option<String>,
    pub interface: Interface,
    pub opts: block::Options,
    pub serial: String,
    /// `index=` (or `unit=`): the unit on the default SCSI bus for `if=scsi`.
    index: Option<u32>,
    /// `media=cdrom`.
    cdrom: bool,
    /// What the command line called it, for errors (`-drive file=F`, `-hda F`, `-cdrom F`).
    origin: String,
    /// Already given to a device.
    used: bool,
}

/// A drive made from a `-blockdev` node (only `-device ...,drive=ID` uses it).
pub fn node_drive(id: String, opts: block::Options) -> Drive {
    Drive {
        id: Some(id),
        interface: Interface::None,
        opts,
        serial: String::new(),
        index: None,
        cdrom: false,
        origin: String::new(),
        used: false,
    }
}

/// Parses one `-drive` list.
pub fn drive(opt: &str, v: &str) -> Result<Drive, String> {
    let mut d = Drive {
        id: None,
        interface: Interface::Virtio,
        opts: block::Options::default(),
        serial: String::new(),
        index: None,
        cdrom: false,
        origin: format!("{opt} {v}"),
        used: false,
    };
    let mut file = None;
    let on_off = |k: &str, val: &str| {
        boolean(val).ok_or_else(|| format!("{opt} {v}: {k}={val}: expected on or off"))
    };
    for (k, val) in keyval(v, "file") {
        match k.as_str() {
            "file" => file = Some(PathBuf::from(val)),
            "id" => d.id = Some(val),
            "if" => {
                d.interface = match val.as_str() {
                    "virtio" => Interface::Virtio,
                    "none" => Interface::None,
                    "pflash" => Interface::Pflash,
                    "scsi" => Interface::Scsi,
                    "ide" | "sd" | "mtd" | "floppy" => {
                        return Err(format!(
                            "{opt} {v}: if={val}: not supported yet (use if=virtio, scsi or none)"
                        ))
                    }
                    _ => return Err(format!("{opt} {v}: if={val}: unknown interface")),
                }
            }
            "format" => {
                d.opts.format = Some(block::Format::parse(&val).ok_or_else(|| {
                    format!("{opt} {v}: format={val}: unknown format (raw or qcow2)")
                })?)
            }
            "readonly" => d.opts.read_only = on_off(&k, &val)?,
            "media" => match val.as_str() {
                "disk" => {}
                "cdrom" => {
                    d.opts.read_only = true;
                    d.cdrom = true;
                }
                _ => return Err(format!("{opt} {v}: media={val}: expected disk or cdrom")),
            },
            "cache" => {
                // QEMU's modes: none = O_DIRECT with flushes, directsync = O_DIRECT, each write
                // durable.
                (d.opts.cache, d.opts.direct) = match val.as_str() {
                    "none" => (block::Cache::Writeback, true),
                    "directsync" => (block::Cache::Writethrough, true),
                    other => (
                        block::Cache::parse(other).ok_or_else(|| {
                            format!("{opt} {v}: cache={val}: unknown mode (writeback, none, writethrough, directsync, unsafe)")
                        })?,
                        false,
                    ),
                }
            }
            // Writes go to a temporary overlay, deleted at exit; the image is not changed.
            "snapshot" => d.opts.snapshot = on_off(&k, &val)?,
            "serial" => d.serial = val,
            // How the host does the I/O; lpar uses its own thread either way.
            "aio" if matches!(val.as_str(), "threads" | "native" | "io_uring") => {}
            "index" | "unit" => {
                let n = number(&val)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("{opt} {v}: {k}={val}: expected a number"))?;
                d.index = Some(n);
            }
            "bus" if number(&val) == Some(0) => {}
            "bus" => return Err(format!("{opt} {v}: bus={val}: only bus 0 exists")),
            _ => return Err(format!("{opt} {v}: unknown or unsupported property '{k}'")),
        }
    }
    d.opts.path = file.ok_or_else(|| format!("{opt} {v}: missing file="))?;
    Ok(d)
}

/// `-cdrom FILE`: a read-only medium on the default SCSI bus (scsi-id 2 when free: QEMU's
/// index 2).
pub fn cdrom(file: PathBuf) -> Drive {
    Drive {
        id: None,
        interface: Interface::Scsi,
        origin: format!("-cdrom {}", file.display()),
        opts: block::Options {
            path: file,
            read_only: true,
            ..Default::default()
        },
        serial: String::new(),
        index: None,
        cdrom: true,
        used: false,
    }
}

/// `-hda`..`-hdd FILE` (`n` 0..3): a disk on the default SCSI bus at index `n`.
pub fn hd(opt: &str, n: u32, file: PathBuf) -> Drive {
    Drive {
        id: None,
        interface: Interface::Scsi,
        origin: format!("{opt} {}", file.display()),
        opts: block::Options {
            path: file,
            ..Default::default()
        },
        serial: String::new(),
        index: Some(n),
        cdrom: false,
        used: false,
    }
}

/// A `-device` naming a driver this module handles, kept until the drives are all known.
#[derive(Clone, Debug)]
pub struct PendingDevice {
    pub opt: String,
    pub value: String,
}

/// Whether `driver` is one of this module's.
pub fn handles(driver: &str) -> bool {
    matches!(
        driver,
        "virtio-blk-pci"
            | "virtio-blk"
            | "spapr-pci-host-bridge"
            | "virtio-rng-pci"
            | "virtio-rng"
            | "virtio-balloon-pci"
            | "virtio-balloon"
            | "virtio-scsi-pci"
            | "virtio-scsi"
            | "scsi-hd"
            | "scsi-cd"
            | "virtio-serial-pci"
            | "virtio-serial"
            | "virtconsole"
            | "virtserialport"
            | "spapr-rng"
            | "spapr-vscsi"
    )
}

/// An `-object`: entropy sources for now.
#[derive(Clone, Debug)]
pub struct Object {
    pub id: String,
    /// None: the host's getrandom (rng-builtin).
    pub rng_file: Option<PathBuf>,
}

/// Parses `-object rng-random,id=ID,filename=F` or `-object rng-builtin,id=ID`.
pub fn object(opt: &str, v: &str) -> Result<Object, String> {
    let items = keyval(v, "qom-type");
    let ty = items.first().map(|(_, t)| t.as_str()).unwrap_or("");
    if !matches!(ty, "rng-random" | "rng-builtin") {
        return Err(format!(
            "{opt} {v}: object type '{ty}' is not supported yet (rng-random, rng-builtin)"
        ));
    }
    let (mut id, mut file) = (None, None);
    for (k, val) in &items[1..] {
        match k.as_str() {
            "id" => id = Some(val.clone()),
            "filename" if ty == "rng-random" => file = Some(PathBuf::from(val)),
            _ => return Err(format!("{opt} {v}: unknown property '{k}' of {ty}")),
        }
    }
    let id = id.ok_or_else(|| format!("{opt} {v}: missing id="))?;
    let rng_file = match ty {
        // QEMU's rng-random reads /dev/urandom unless told otherwise.
        "rng-random" => Some(file.unwrap_or_else(|| PathBuf::from("/dev/urandom"))),
        _ => None,
    };
    Ok(Object { id, rng_file })
}

/// Where a PCI device goes (`bus=pci.N`, `addr=SLOT`), for devices with no other properties
/// than these and `id`; `extra` handles the rest.
fn pci_placement(
    opt: &str,
    v: &str,
    items: &[(String, String)],
    mut extra: impl FnMut(&str, &str) -> Result<bool, String>,
) -> Result<(u32, Option<u32>), String> {
    let driver = items.first().map(|(_, d)| d.as_str()).unwrap_or("");
    let (mut bus, mut slot) = (0, None);
    for (k, val) in &items[1..] {
        match k.as_str() {
            "bus" => bus = pci_bus(opt, v, val)?,
            "addr" => slot = Some(pci_addr(opt, v, val)?),
            "id" => {}
            _ if extra(k, val)? => {}
            _ => {
                return Err(format!(
                    "{opt} {v}: unknown or unsupported property '{k}' of {driver}"
                ))
            }
        }
    }
    Ok((bus, slot))
}

/// The virtio-pci interface properties: `disable-legacy=` (either way: lpar has only the modern
/// interface) and `disable-modern=off`. Whether `k` was one of them.
pub(super) fn virtio_interface(opt: &str, v: &str, k: &str, val: &str) -> Result<bool, String> {
    match k {
        "disable-legacy" => {
            boolean(val).ok_or_else(|| format!("{opt} {v}: {k}={val}: expected on or off"))?;
            Ok(true)
        }
        "disable-modern" => {
            if boolean(val) != Some(false) {
                return Err(format!(
                    "{opt} {v}: {k}={val}: only the modern (virtio 1.x) interface is supported"
                ));
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// A PCI bus name (`pci.N`, QEMU's name of bridge N's root bus) -> N.
pub(super) fn pci_bus(opt: &str, v: &str, val: &str) -> Result<u32, String> {
    val.strip_prefix("pci.")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("{opt} {v}: bus={val}: unknown bus (pci.N)"))
}

/// A PCI address `SLOT[.FN]` -> slot (function 0 only).
pub(super) fn pci_addr(opt: &str, v: &str, val: &str) -> Result<u32, String> {
    let (slot, func) = match val.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (val, None),
    };
    let slot = u32::from_str_radix(slot.trim_start_matches("0x"), 16)
        .ok()
        .filter(|&s| s < 32)
        .ok_or_else(|| format!("{opt} {v}: addr={val}: expected a slot 0-1f"))?;
    match func {
        None | Some("0") => Ok(slot),
        Some(_) => Err(format!(
            "{opt} {v}: addr={val}: multifunction devices are not supported yet"
        )),
    }
}

/// `-global DRIVER.PROP=VALUE`: the one lpar knows is spapr-nvram.drive.
pub fn global(opt: &str, v: &str) -> Result<String, String> {
    match v.split_once('=') {
        Some(("spapr-nvram.drive", id)) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(format!(
            "{opt} {v}: not supported (lpar knows -global spapr-nvram.drive=ID)"
        )),
    }
}

/// The NVRAM image: `-global spapr-nvram.drive=ID`, or the `if=pflash` drive.
pub fn nvram(drives: &mut [Drive], global: Option<&str>) -> Result<Option<block::Options>, String> {
    let flash: Vec<usize> = (0..drives.len())
        .filter(|&i| drives[i].interface == Interface::Pflash)
        .collect();
    if flash.len() > 1 {
        return Err("-drive if=pflash: pseries has one flash (the spapr-nvram)".into());
    }
    if let Some(id) = global {
        if !flash.is_empty() {
            return Err(format!(
                "-global spapr-nvram.drive={id}: the NVRAM already has the if=pflash drive"
            ));
        }
        let d = drives
            .iter_mut()
            .find(|d| d.id.as_deref() == Some(id))
            .ok_or_else(|| format!("-global spapr-nvram.drive={id}: no -drive with that id"))?;
        if d.used {
            return Err(format!(
                "-global spapr-nvram.drive={id}: drive already in use"
            ));
        }
        d.used = true;
        return Ok(Some(d.opts.clone()));
    }
    Ok(flash.first().map(|&i| {
        drives[i].used = true;
        drives[i].opts.clone()
    }))
}

/// A SCSI controller (virtio-scsi-pci or spapr-vscsi) being resolved: its units are attached
/// once all controllers are known.
struct Controller {
    id: Option<String>,
    /// A spapr-vscsi (narrower addressing) rather than a virtio-scsi-pci.
    vscsi: bool,
    /// Its entry in the device list.
    index: usize,
    disks: Vec<ScsiDiskConfig>,
    /// What put each unit there (`drive=ID`, `-cdrom`), for the errors naming a conflict.
    owners: Vec<String>,
}

impl Controller {
    /// QEMU's name of the controller's bus: `ID.0`, or `scsi.0` without an id; the
    /// controller's id alone names it too.
    fn is_bus(&self, name: &str) -> bool {
        match &self.id {
            Some(id) => name == id || name.strip_suffix(".0") == Some(id.as_str()),
            None => name == "scsi.0",
        }
    }

    fn bus_name(&self) -> String {
        match &self.id {
            Some(id) => format!("{id}.0"),
            None => "scsi.0".into(),
        }
    }

    /// The largest SCSI id and LUN its guest driver addresses.
    fn limits(&self) -> (u16, u16) {
        if self.vscsi {
            (VSCSI_MAX_TARGET, VSCSI_MAX_LUN)
        } else {
            (SCSI_MAX_TARGET, SCSI_MAX_LUN)
        }
    }

    /// Who has `target`/`lun`, if taken.
    fn owner(&self, target: u16, lun: u16) -> Option<&str> {
        self.disks
            .iter()
            .zip(&self.owners)
            .find(|(d, _)| d.target == target && d.lun == lun)
            .map(|(_, o)| o.as_str())
    }
}

/// Registers a SCSI controller whose entry in the device list is `index`.
fn add_controller(
    opt: &str,
    v: &str,
    controllers: &mut Vec<Controller>,
    id: Option<String>,
    vscsi: bool,
    index: usize,
) -> Result<(), String> {
    if let Some(id) = &id {
        if controllers.iter().any(|c| c.id.as_ref() == Some(id)) {
            return Err(format!(
                "{opt} {v}: id={id}: a SCSI controller with that id exists"
            ));
        }
    }
    controllers.push(Controller {
        id,
        vscsi,
        index,
        disks: Vec::new(),
        owners: Vec::new(),
    });
    Ok(())
}

/// A VIO unit address (`reg=`).
pub(super) fn vio_reg(opt: &str, v: &str, val: &str) -> Result<u32, String> {
    number(val)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("{opt} {v}: reg={val}: not a 32-bit number"))
}

/// The SCSI id and LUN of a new unit, QEMU's way: with neither given, the first id free at the
/// LUN (0 by default); with the id alone, its first free LUN.
fn scsi_address(
    opt: &str,
    v: &str,
    c: &Controller,
    target: Option<u16>,
    lun: Option<u16>,
) -> Result<(u16, u16), String> {
    let bus = c.bus_name();
    let (max_target, max_lun) = c.limits();
    if let Some(t) = target.filter(|&t| t > max_target) {
        return Err(format!(
            "{opt} {v}: scsi-id={t}: expected 0-{max_target} on bus {bus}"
        ));
    }
    if let Some(l) = lun.filter(|&l| l > max_lun) {
        return Err(format!(
            "{opt} {v}: lun={l}: expected 0-{max_lun} on bus {bus}"
        ));
    }
    match (target, lun) {
        (Some(t), Some(l)) => match c.owner(t, l) {
            Some(o) => Err(format!(
                "{opt} {v}: scsi-id={t},lun={l} on bus {bus} is already used by {o}"
            )),
            None => Ok((t, l)),
        },
        (Some(t), None) => (0..=max_lun)
            .find(|&l| c.owner(t, l).is_none())
            .map(|l| (t, l))
            .ok_or_else(|| format!("{opt} {v}: scsi-id={t} on bus {bus} has no free LUN")),
        (None, l) => {
            let l = l.unwrap_or(0);
            (0..=max_target)
                .find(|&t| c.owner(t, l).is_none())
                .map(|t| (t, l))
                .ok_or_else(|| format!("{opt} {v}: bus {bus} has no free scsi-id for lun={l}"))
        }
    }
}

/// Attaches a pending `-device scsi-hd|scsi-cd` to its controller.
fn scsi_unit(
    p: &PendingDevice,
    drives: &mut [Drive],
    controllers: &mut [Controller],
) -> Result<(), String> {
    let (opt, v) = (p.opt.as_str(), p.value.as_str());
    let items = keyval(v, "driver");
    let driver = items.first().map(|(_, d)| d.as_str()).unwrap_or("");
    let (mut drive_id, mut bus, mut target, mut lun, mut serial) = (None, None, None, None, None);
    for (k, val) in &items[1..] {
        match k.as_str() {
            "drive" => drive_id = Some(val.clone()),
            "bus" => bus = Some(val.clone()),
            // Both controllers have one channel.
            "channel" if number(val) == Some(0) => {}
            "channel" => return Err(format!("{opt} {v}: channel={val}: only channel 0 exists")),
            "scsi-id" => {
                target = Some(
                    number(val)
                        .filter(|&n| n <= SCSI_MAX_TARGET as u64)
                        .ok_or_else(|| {
                            format!("{opt} {v}: scsi-id={val}: expected 0-{SCSI_MAX_TARGET}")
                        })? as u16,
                )
            }
            "lun" => {
                lun = Some(
                    number(val)
                        .filter(|&n| n <= SCSI_MAX_LUN as u64)
                        .ok_or_else(|| format!("{opt} {v}: lun={val}: expected 0-{SCSI_MAX_LUN}"))?
                        as u16,
                )
            }
            "serial" => serial = Some(val.clone()),
            "id" | "bootindex" => {}
            _ => {
                return Err(format!(
                    "{opt} {v}: unknown or unsupported property '{k}' of {driver}"
                ))
            }
        }
    }
    let c = match &bus {
        Some(b) => controllers.iter_mut().find(|c| c.is_bus(b)).ok_or_else(|| {
            format!(
                "{opt} {v}: bus={b}: no SCSI bus with that name (-device virtio-scsi-pci,id=ID or spapr-vscsi,id=ID makes bus ID.0)"
            )
        })?,
        None => controllers.first_mut().ok_or_else(|| {
            format!(
                "{opt} {v}: no SCSI bus for {driver} (add -device spapr-vscsi or virtio-scsi-pci)"
            )
        })?,
    };
    let id = drive_id.ok_or_else(|| format!("{opt} {v}: missing drive="))?;
    let (t, l) = scsi_address(opt, v, c, target, lun)?;
    let d = drives
        .iter_mut()
        .find(|d| d.id.as_deref() == Some(id.as_str()))
        .ok_or_else(|| format!("{opt} {v}: drive={id}: no -drive with that id"))?;
    if d.used {
        return Err(format!(
            "{opt} {v}: drive={id}: already in use by another device"
        ));
    }
    d.used = true;
    let cdrom = driver == "scsi-cd";
    let mut drive = d.opts.clone();
    // A CD-ROM's medium is read-only, as QEMU's scsi-cd.
    drive.read_only |= cdrom;
    let serial = serial.unwrap_or_else(|| d.serial.clone());
    c.disks.push(ScsiDiskConfig {
        drive,
        cdrom,
        target: t,
        lun: l,
        // QEMU identifies the unit by its serial, else by the drive's name.
        device_id: if serial.is_empty() {
            id.clone()
        } else {
            serial.clone()
        },
        serial,
    });
    c.owners.push(format!("drive={id}"));
    Ok(())
}

/// Puts the `if=scsi` drives (`-hda`, `-cdrom`) on a spapr-vscsi of their own, as QEMU's
/// pseries does: those with an index first, at that SCSI id; then the others, a CD-ROM at id 2
/// if free, else (and disks) at the first free id.
fn default_bus_units(
    drives: &mut [Drive],
    controllers: &mut Vec<Controller>,
    out: &mut Vec<DeviceConfig>,
) -> Result<(), String> {
    let mut order: Vec<usize> = (0..drives.len())
        .filter(|&i| drives[i].interface == Interface::Scsi)
        .collect();
    if order.is_empty() {
        return Ok(());
    }
    order.sort_by_key(|&i| drives[i].index.is_none());
    controllers.push(Controller {
        id: None,
        vscsi: true,
        index: out.len(),
        disks: Vec::new(),
        owners: Vec::new(),
    });
    out.push(DeviceConfig::SpaprVscsi {
        reg: None,
        disks: Vec::new(),
    });
    let Some(c) = controllers.last_mut() else {
        return Ok(());
    };
    for i in order {
        let d = &mut drives[i];
        let target = match d.index {
            // QEMU: index N is unit N % 7 of SCSI bus N / 7.
            Some(n) if n >= 7 => {
                return Err(format!(
                    "{}: index={n} is on SCSI bus {}; only bus 0 (index 0-6) exists",
                    d.origin,
                    n / 7
                ))
            }
            Some(n) => {
                let n = n as u16;
                if let Some(o) = c.owner(n, 0) {
                    return Err(format!(
                        "{}: scsi-id {n} of bus {} is already taken by {o}",
                        d.origin,
                        c.bus_name()
                    ));
                }
                n
            }
            None => d
                .cdrom
                .then_some(2u16)
                .into_iter()
                .chain(0..=SCSI_MAX_TARGET)
                .find(|&t| c.owner(t, 0).is_none())
                .ok_or_else(|| format!("{}: bus {} has no free scsi-id", d.origin, c.bus_name()))?,
        };
        d.used = true;
        c.disks.push(ScsiDiskConfig {
            drive: d.opts.clone(),
            cdrom: d.cdrom,
            target,
            lun: 0,
            serial: d.serial.clone(),
            // QEMU's name of such a legacy drive.
            device_id: format!("scsi0-{}{target}", if d.cdrom { "cd" } else { "hd" }),
        });
        c.owners.push(d.origin.clone());
    }
    Ok(())
}

/// Resolves the `if=virtio` drives, `-cdrom` and the pending `-device`s into the machine's
/// devices.
pub fn resolve(
    drives: &mut [Drive],
    objects: &[Object],
    chardevs: &[chardev::Config],
    pending: &[PendingDevice],
) -> Result<Vec<DeviceConfig>, String> {
    let mut out = Vec::new();
    // virtio-serial controllers: (id, index in `out`, port given).
    let mut serials: Vec<(Option<String>, usize, bool)> = Vec::new();
    for (i, c) in chardevs.iter().enumerate() {
        if chardevs[..i].iter().any(|p| p.id == c.id) {
            return Err(format!("-chardev id={}: duplicate chardev id", c.id));
        }
    }
    let mut chardev_used = vec![false; chardevs.len()];
    let mut controllers: Vec<Controller> = Vec::new();
    let mut units = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        if objects[..i].iter().any(|p| p.id == o.id) {
            return Err(format!("-object id={}: duplicate object id", o.id));
        }
    }
    for (i, d) in drives.iter().enumerate() {
        if let Some(id) = &d.id {
            if drives[..i].iter().any(|o| o.id.as_ref() == Some(id)) {
                return Err(format!("-drive id={id}: duplicate drive id"));
            }
        }
    }
    for d in drives
        .iter_mut()
        .filter(|d| d.interface == Interface::Virtio)
    {
        d.used = true;
        out.push(DeviceConfig::VirtioBlk {
            drive: d.opts.clone(),
            bus: 0,
            slot: None,
            queues: 1,
            serial: d.serial.clone(),
        });
    }
    for p in pending {
        let (opt, v) = (p.opt.as_str(), p.value.as_str());
        let items = keyval(v, "driver");
        let driver = items.first().map(|(_, d)| d.as_str()).unwrap_or("");
        match driver {
            "spapr-pci-host-bridge" => {
                let mut index = None;
                for (k, val) in &items[1..] {
                    match k.as_str() {
                        "index" => {
                            index =
                                Some(number(val).and_then(|n| u32::try_from(n).ok()).ok_or_else(
                                    || format!("{opt} {v}: index={val}: not a number"),
                                )?)
                        }
                        "id" => {}
                        _ => {
                            return Err(format!(
                                "{opt} {v}: unknown or unsupported property '{k}' of {driver}"
                            ))
                        }
                    }
                }
                let index = index.ok_or_else(|| format!("{opt} {v}: missing index="))?;
                out.push(DeviceConfig::Phb { index });
            }
            "virtio-rng-pci" | "virtio-rng" => {
                let mut rng = None;
                let (bus, slot) = pci_placement(opt, v, &items, |k, val| {
                    Ok(match k {
                        "rng" => {
                            rng = Some(val.to_string());
                            true
                        }
                        // Rate limits: lpar does not throttle (the host's getrandom is cheap).
                        "max-bytes" | "period" => number(val).is_some(),
                        _ => false,
                    })
                })?;
                let file = match rng {
                    Some(id) => objects
                        .iter()
                        .find(|o| o.id == id)
                        .ok_or_else(|| format!("{opt} {v}: rng={id}: no -object with that id"))?
                        .rng_file
                        .clone(),
                    None => None,
                };
                out.push(DeviceConfig::VirtioRng { file, bus, slot });
            }
            "virtio-serial-pci" | "virtio-serial" => {
                let mut id = None;
                let (bus, slot) = pci_placement(opt, v, &items, |k, val| {
                    Ok(match k {
                        // Ports beyond the one console need multiport, which is not there yet.
                        "max_ports" => number(val).is_some_and(|n| n >= 1),
                        _ => false,
                    })
                })?;
                for (k, val) in &items[1..] {
                    if k == "id" {
                        id = Some(val.clone());
                    }
                }
                serials.push((id, out.len(), false));
                out.push(DeviceConfig::VirtioConsole {
                    chardev: None,
                    bus,
                    slot,
                });
            }
            "virtserialport" => {
                return Err(format!(
                    "{opt} {v}: virtserialport is not supported yet (virtconsole is)"
                ))
            }
            "virtconsole" => {
                let (mut chardev, mut bus) = (None, None);
                for (k, val) in &items[1..] {
                    match k.as_str() {
                        "chardev" => chardev = Some(val.clone()),
                        "bus" => bus = Some(val.clone()),
                        "id" | "name" | "nr" => {}
                        _ => {
                            return Err(format!(
                                "{opt} {v}: unknown or unsupported property '{k}' of {driver}"
                            ))
                        }
                    }
                }
                let id = chardev.ok_or_else(|| format!("{opt} {v}: missing chardev="))?;
                let ci = chardevs
                    .iter()
                    .position(|c| c.id == id)
                    .ok_or_else(|| format!("{opt} {v}: chardev={id}: no -chardev with that id"))?;
                if chardev_used[ci] {
                    return Err(format!("{opt} {v}: chardev={id}: already in use"));
                }
                // bus=ID.0 names a virtio-serial-pci; without it, the first one.
                let s = match &bus {
                    Some(b) => {
                        let name = b.strip_suffix(".0").unwrap_or(b);
                        serials
                            .iter_mut()
                            .find(|s| s.0.as_deref() == Some(name))
                            .ok_or_else(|| format!("{opt} {v}: bus={b}: no virtio-serial-pci with that id"))?
                    }
                    None => serials.first_mut().ok_or_else(|| {
                        format!("{opt} {v}: no virtio-serial-pci to put it on (add -device virtio-serial-pci)")
                    })?,
                };
                if s.2 {
                    return Err(format!(
                        "{opt} {v}: one console per virtio-serial-pci for now (add another controller)"
                    ));
                }
                s.2 = true;
                chardev_used[ci] = true;
                if let Some(DeviceConfig::VirtioConsole { chardev, .. }) = out.get_mut(s.1) {
                    *chardev = Some(chardevs[ci].clone());
                }
            }
            // The console spapr-vty (without chardev=) is the machine's own (cli::device).
            "spapr-vty" => {
                let (mut chardev, mut reg) = (None, None);
                for (k, val) in &items[1..] {
                    match k.as_str() {
                        "chardev" => chardev = Some(val.clone()),
                        "reg" => reg = Some(vio_reg(opt, v, val)?),
                        "id" => {}
                        _ => {
                            return Err(format!(
                                "{opt} {v}: unknown or unsupported property '{k}' of {driver}"
                            ))
                        }
                    }
                }
                let id = chardev.ok_or_else(|| format!("{opt} {v}: missing chardev="))?;
                let ci = chardevs
                    .iter()
                    .position(|c| c.id == id)
                    .ok_or_else(|| format!("{opt} {v}: chardev={id}: no -chardev with that id"))?;
                if chardev_used[ci] {
                    return Err(format!("{opt} {v}: chardev={id}: already in use"));
                }
                chardev_used[ci] = true;
                out.push(DeviceConfig::SpaprVty {
                    chardev: chardevs[ci].clone(),
                    reg,
                });
            }
            "spapr-rng" => {
                let mut rng = None;
                for (k, val) in &items[1..] {
                    match k.as_str() {
                        "rng" => rng = Some(val.clone()),
                        "id" => {}
                        // In-kernel H_RANDOM needs KVM.
                        "use-kvm" if boolean(val) == Some(false) => {}
                        "use-kvm" => {
                            return Err(format!(
                                "{opt} {v}: use-kvm needs KVM (lpar emulates the CPU)"
                            ))
                        }
                        _ => {
                            return Err(format!(
                                "{opt} {v}: unknown or unsupported property '{k}' of {driver}"
                            ))
                        }
                    }
                }
                let file = match rng {
                    Some(id) => objects
                        .iter()
                        .find(|o| o.id == id)
                        .ok_or_else(|| format!("{opt} {v}: rng={id}: no -object with that id"))?
                        .rng_file
                        .clone(),
                    None => None,
                };
                if out
                    .iter()
                    .any(|d| matches!(d, DeviceConfig::SpaprRng { .. }))
                {
                    return Err(format!("{opt} {v}: only one spapr-rng is allowed"));
                }
                out.push(DeviceConfig::SpaprRng { file });
            }
            "virtio-balloon-pci" | "virtio-balloon" => {
                let (bus, slot) = pci_placement(opt, v, &items, |k, val| {
                    Ok(k == "deflate-on-oom" && boolean(val) == Some(false))
                })?;
                out.push(DeviceConfig::VirtioBalloon { bus, slot });
            }
            "virtio-scsi-pci" | "virtio-scsi" => {
                let mut queues = 1u16;
                let (bus, slot) = pci_placement(opt, v, &items, |k, val| {
                    Ok(match k {
                        // QEMU spells it num_queues; num-queues as virtio-blk's is accepted.
                        "num_queues" | "num-queues" => {
                            queues = number(val)
                                .filter(|n| (1..=SCSI_MAX_QUEUES as u64).contains(n))
                                .ok_or_else(|| {
                                    format!("{opt} {v}: {k}={val}: expected 1-{SCSI_MAX_QUEUES}")
                                })? as u16;
                            true
                        }
                        _ => virtio_interface(opt, v, k, val)?,
                    })
                })?;
                let id = items[1..]
                    .iter()
                    .find(|(k, _)| k == "id")
                    .map(|(_, i)| i.clone());
                add_controller(opt, v, &mut controllers, id, false, out.len())?;
                out.push(DeviceConfig::VirtioScsi {
                    bus,
                    slot,
                    queues,
                    disks: Vec::new(),
                });
            }
            "spapr-vscsi" => {
                let (mut id, mut reg) = (None, None);
                for (k, val) in &items[1..] {
                    match k.as_str() {
                        "id" => id = Some(val.clone()),
                        "reg" => reg = Some(vio_reg(opt, v, val)?),
                        _ => {
                            return Err(format!(
                                "{opt} {v}: unknown or unsupported property '{k}' of {driver}"
                            ))
                        }
                    }
                }
                add_controller(opt, v, &mut controllers, id, true, out.len())?;
                out.push(DeviceConfig::SpaprVscsi {
                    reg,
                    disks: Vec::new(),
                });
            }
            // Attached once every controller is known.
            "scsi-hd" | "scsi-cd" => units.push(p),
            _ => {
                let (mut drive_id, mut bus, mut slot, mut queues, mut serial) =
                    (None, 0, None, 1u16, None);
                for (k, val) in &items[1..] {
                    match k.as_str() {
                        "drive" => drive_id = Some(val.clone()),
                        "bus" => bus = pci_bus(opt, v, val)?,
                        "addr" => slot = Some(pci_addr(opt, v, val)?),
                        "num-queues" => {
                            queues =
                                number(val)
                                    .filter(|n| (1..=64).contains(n))
                                    .ok_or_else(|| {
                                        format!("{opt} {v}: num-queues={val}: expected 1-64")
                                    })? as u16
                        }
                        "serial" => serial = Some(val.clone()),
                        "id" | "bootindex" => {}
                        _ if virtio_interface(opt, v, k, val)? => {}
                        _ => {
                            return Err(format!(
                                "{opt} {v}: unknown or unsupported property '{k}' of {driver}"
                            ))
                        }
                    }
                }
                let id = drive_id.ok_or_else(|| format!("{opt} {v}: missing drive="))?;
                let d = drives
                    .iter_mut()
                    .find(|d| d.id.as_deref() == Some(id.as_str()))
                    .ok_or_else(|| format!("{opt} {v}: drive={id}: no -drive with that id"))?;
                if d.used {
                    return Err(format!(
                        "{opt} {v}: drive={id}: already in use by another device"
                    ));
                }
                d.used = true;
                out.push(DeviceConfig::VirtioBlk {
                    drive: d.opts.clone(),
                    bus,
                    slot,
                    queues,
                    serial: serial.unwrap_or_else(|| d.serial.clone()),
                });
            }
        }
    }
    for p in units {
        scsi_unit(p, drives, &mut controllers)?;
    }
    default_bus_units(drives, &mut controllers, &mut out)?;
    for c in controllers {
        match out.get_mut(c.index) {
            Some(DeviceConfig::VirtioScsi { disks, .. })
            | Some(DeviceConfig::SpaprVscsi { disks, .. }) => *disks = c.disks,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pend(v: &str) -> PendingDevice {
        PendingDevice {
            opt: "-device".into(),
            value: v.into(),
        }
    }

    #[test]
    fn drives_parse_qemu_spellings() {
        let d = drive(
            "-drive",
            "file=disk.img,format=raw,if=none,id=d0,cache=unsafe,readonly=on",
        )
        .unwrap();
        assert_eq!(d.id.as_deref(), Some("d0"));
        assert_eq!(d.interface, Interface::None);
        assert_eq!(d.opts.format, Some(block::Format::Raw));
        assert_eq!(d.opts.cache, block::Cache::Unsafe);
        assert!(d.opts.read_only);
        let d = drive("-drive", "disk,,1.img").unwrap();
        assert_eq!(d.opts.path, PathBuf::from("disk,1.img"));
        assert_eq!(d.interface, Interface::Virtio);
    }

    #[test]
    fn cache_modes_set_direct_io_and_flushing() {
        let m = |v: &str| {
            let d = drive("-drive", &format!("file=a,cache={v}")).unwrap();
            (d.opts.cache, d.opts.direct)
        };
        assert_eq!(m("none"), (block::Cache::Writeback, true));
        assert_eq!(m("directsync"), (block::Cache::Writethrough, true));
        assert_eq!(m("writeback"), (block::Cache::Writeback, false));
        assert_eq!(m("writethrough"), (block::Cache::Writethrough, false));
        assert_eq!(m("unsafe"), (block::Cache::Unsafe, false));
    }

    #[test]
    fn drive_errors_name_the_culprit() {
        let e = |v: &str| drive("-drive", v).unwrap_err();
        assert_eq!(e("if=virtio"), "-drive if=virtio: missing file=");
        assert!(e("file=a,format=vmdk").contains("format=vmdk"));
        assert!(e("file=a,bogus=1").contains("'bogus'"));
        assert!(e("file=a,cache=nosuch").contains("cache=nosuch: unknown mode"));
        assert!(e("file=a,if=ide").contains("if=ide"));
    }

    #[test]
    fn devices_find_their_drives() {
        let mut drives = vec![
            drive("-drive", "file=a.img,if=none,id=d0").unwrap(),
            drive("-drive", "file=b.img").unwrap(),
        ];
        let devs = resolve(
            &mut drives,
            &[],
            &[],
            &[
                pend("virtio-blk-pci,drive=d0,addr=5,num-queues=4,bus=pci.1"),
                pend("spapr-pci-host-bridge,index=1"),
            ],
        )
        .unwrap();
        assert_eq!(devs.len(), 3);
        assert!(
            matches!(&devs[0], DeviceConfig::VirtioBlk { drive, .. } if drive.path.as_os_str() == "b.img")
        );
        assert!(matches!(
            &devs[1],
            DeviceConfig::VirtioBlk {
                slot: Some(5),
                queues: 4,
                bus: 1,
                ..
            }
        ));
        assert!(matches!(devs[2], DeviceConfig::Phb { index: 1 }));
    }

    #[test]
    fn the_nvram_image_comes_from_pflash_or_global() {
        let mut d = vec![drive("-drive", "file=nv.img,if=pflash,format=raw").unwrap()];
        let o = nvram(&mut d, None).unwrap().unwrap();
        assert_eq!(o.path.as_os_str(), "nv.img");
        let mut d = vec![drive("-drive", "file=nv.img,if=none,id=pf").unwrap()];
        assert!(nvram(&mut d, Some("pf")).unwrap().is_some());
        // Taken: a device cannot have it as well.
        assert!(
            resolve(&mut d, &[], &[], &[pend("virtio-blk-pci,drive=pf")])
                .unwrap_err()
                .contains("already in use")
        );
        let mut d = vec![drive("-drive", "file=nv.img,if=none,id=pf").unwrap()];
        assert!(nvram(&mut d, Some("nope"))
            .unwrap_err()
            .contains("no -drive"));
        assert_eq!(global("-global", "spapr-nvram.drive=pf"), Ok("pf".into()));
        assert!(global("-global", "virtio-blk-pci.x=1").is_err());
    }

    #[test]
    fn rng_and_balloon_devices() {
        let objs = vec![
            object("-object", "rng-random,id=r0,filename=/dev/urandom").unwrap(),
            object("-object", "rng-builtin,id=r1").unwrap(),
        ];
        let devs = resolve(
            &mut [],
            &objs,
            &[],
            &[
                pend("virtio-rng-pci,rng=r0,addr=6"),
                pend("virtio-rng-pci,rng=r1"),
                pend("virtio-balloon-pci,bus=pci.0"),
            ],
        )
        .unwrap();
        assert!(
            matches!(&devs[0], DeviceConfig::VirtioRng { file: Some(f), slot: Some(6), .. } if f.as_os_str() == "/dev/urandom")
        );
        assert!(matches!(
            &devs[1],
            DeviceConfig::VirtioRng { file: None, .. }
        ));
        assert!(matches!(
            &devs[2],
            DeviceConfig::VirtioBalloon { bus: 0, slot: None }
        ));
        assert!(
            resolve(&mut [], &objs, &[], &[pend("virtio-rng-pci,rng=nope")])
                .unwrap_err()
                .contains("rng=nope")
        );
        assert!(object("-object", "memory-backend-ram,id=m")
            .unwrap_err()
            .contains("not supported"));
        assert!(object("-object", "rng-random")
            .unwrap_err()
            .contains("missing id="));
        assert!(
            resolve(&mut [], &[], &[], &[pend("virtio-balloon-pci,foo=1")])
                .unwrap_err()
                .contains("'foo'")
        );
    }

    #[test]
    fn virtconsoles_find_their_chardev_and_controller() {
        let cd = |id: &str| chardev::Config {
            id: id.into(),
            backend: chardev::Backend::Null,
        };
        let chardevs = vec![cd("c0"), cd("c1")];
        let devs = resolve(
            &mut [],
            &[],
            &chardevs,
            &[
                pend("virtio-serial-pci,id=s0"),
                pend("virtio-serial-pci,id=s1,addr=7"),
                pend("virtconsole,chardev=c1,bus=s1.0"),
                pend("virtconsole,chardev=c0"),
            ],
        )
        .unwrap();
        assert!(
            matches!(&devs[0], DeviceConfig::VirtioConsole { chardev: Some(c), .. } if c.id == "c0")
        );
        assert!(
            matches!(&devs[1], DeviceConfig::VirtioConsole { chardev: Some(c), slot: Some(7), .. } if c.id == "c1")
        );
        let e = |p: &[&str]| {
            let p: Vec<PendingDevice> = p.iter().map(|v| pend(v)).collect();
            resolve(&mut [], &[], &chardevs, &p).unwrap_err()
        };
        assert!(e(&["virtconsole,chardev=c0"]).contains("no virtio-serial-pci"));
        assert!(e(&["virtio-serial-pci", "virtconsole,chardev=zz"]).contains("chardev=zz"));
        assert!(e(&[
            "virtio-serial-pci",
            "virtconsole,chardev=c0",
            "virtconsole,chardev=c1"
        ])
        .contains("one console per"));
        assert!(
            e(&["virtio-serial-pci,id=a", "virtconsole,chardev=c0,bus=b.0"]).contains("bus=b.0")
        );
        assert!(e(&["virtio-serial-pci", "virtserialport,chardev=c0"]).contains("virtserialport"));
        let dup = vec![cd("x"), cd("x")];
        assert!(resolve(&mut [], &[], &dup, &[])
            .unwrap_err()
            .contains("duplicate chardev"));
    }

    #[test]
    fn bad_device_drive_combinations_are_refused() {
        let mut drives = vec![drive("-drive", "file=a.img,if=none,id=d0").unwrap()];
        let e = resolve(
            &mut drives.clone(),
            &[],
            &[],
            &[pend("virtio-blk-pci,drive=nope")],
        )
        .unwrap_err();
        assert_eq!(
            e,
            "-device virtio-blk-pci,drive=nope: drive=nope: no -drive with that id"
        );
        let e = resolve(
            &mut drives,
            &[],
            &[],
            &[
                pend("virtio-blk-pci,drive=d0"),
                pend("virtio-blk-pci,drive=d0"),
            ],
        )
        .unwrap_err();
        assert!(e.contains("already in use"), "{e}");
        let e = resolve(&mut [], &[], &[], &[pend("virtio-blk-pci")]).unwrap_err();
        assert!(e.contains("missing drive="), "{e}");
        let mut dup = vec![
            drive("-drive", "file=a,if=none,id=x").unwrap(),
            drive("-drive", "file=b,if=none,id=x").unwrap(),
        ];
        assert!(resolve(&mut dup, &[], &[], &[])
            .unwrap_err()
            .contains("duplicate drive id"));
        let e = resolve(
            &mut [],
            &[],
            &[],
            &[pend("virtio-blk-pci,drive=d,addr=3.1")],
        )
        .unwrap_err();
        assert!(e.contains("multifunction"), "{e}");
    }

    /// The units of the SCSI controller `d`: (path, cdrom, read-only, target, lun, serial, id).
    fn units(d: &DeviceConfig) -> Vec<(String, bool, bool, u16, u16, String, String)> {
        match d {
            DeviceConfig::VirtioScsi { disks, .. } | DeviceConfig::SpaprVscsi { disks, .. } => {
                disks
                    .iter()
                    .map(|u| {
                        (
                            u.drive.path.display().to_string(),
                            u.cdrom,
                            u.drive.read_only,
                            u.target,
                            u.lun,
                            u.serial.clone(),
                            u.device_id.clone(),
                        )
                    })
                    .collect()
            }
            other => panic!("not a SCSI controller: {other:?}"),
        }
    }

    fn scsi_drives() -> Vec<Drive> {
        ["a", "b", "c", "d"]
            .iter()
            .map(|n| drive("-drive", &format!("file={n}.img,if=none,id={n}")).unwrap())
            .collect()
    }

    #[test]
    fn scsi_units_go_on_their_controllers() {
        let mut drives = scsi_drives();
        let devs = resolve(
            &mut drives,
            &[],
            &[],
            &[
                // A unit may come before its controller.
                pend("scsi-hd,drive=c,bus=scsi1.0,scsi-id=3,lun=5"),
                pend("virtio-scsi-pci,id=scsi0,num_queues=4,addr=6"),
                pend("scsi-hd,drive=a,serial=SER-A"),
                pend("scsi-cd,drive=b,bus=scsi0.0,channel=0"),
                pend("virtio-scsi-pci,id=scsi1,bus=pci.1"),
                pend("scsi-hd,drive=d,bus=scsi1,scsi-id=3"),
                pend("spapr-pci-host-bridge,index=1"),
            ],
        )
        .unwrap();
        assert_eq!(devs.len(), 3);
        assert!(matches!(
            devs[0],
            DeviceConfig::VirtioScsi {
                bus: 0,
                slot: Some(6),
                queues: 4,
                ..
            }
        ));
        // No scsi-id: the first free one (QEMU's rule); scsi-cd is read-only.
        assert_eq!(
            units(&devs[0]),
            vec![
                (
                    "a.img".into(),
                    false,
                    false,
                    0,
                    0,
                    "SER-A".into(),
                    "SER-A".into()
                ),
                ("b.img".into(), true, true, 1, 0, "".into(), "b".into()),
            ]
        );
        assert!(matches!(
            devs[1],
            DeviceConfig::VirtioScsi {
                bus: 1,
                slot: None,
                queues: 1,
                ..
            }
        ));
        // scsi-id without lun: the first free LUN of that id.
        let u = units(&devs[1]);
        assert_eq!((u[0].3, u[0].4), (3, 5));
        assert_eq!((u[1].3, u[1].4), (3, 0));
    }

    #[test]
    fn cdrom_gets_a_spapr_vscsi_of_its_own() {
        // The CD-ROM at scsi-id 2 (QEMU's unit 2) of a spapr-vscsi added for it.
        let mut drives = vec![cdrom(PathBuf::from("x.iso"))];
        let devs = resolve(&mut drives, &[], &[], &[pend("virtio-rng-pci")]).unwrap();
        assert_eq!(devs.len(), 2);
        assert!(matches!(
            devs[1],
            DeviceConfig::SpaprVscsi { reg: None, .. }
        ));
        assert_eq!(
            units(&devs[1]),
            vec![(
                "x.iso".into(),
                true,
                true,
                2,
                0,
                "".into(),
                "scsi0-cd2".into()
            )]
        );
        // A controller on the command line keeps its own units: QEMU's pseries too puts the
        // legacy drives on the machine's spapr-vscsi.
        let mut drives = scsi_drives();
        drives.push(cdrom(PathBuf::from("x.iso")));
        let devs = resolve(
            &mut drives,
            &[],
            &[],
            &[
                pend("virtio-scsi-pci,id=s"),
                pend("scsi-hd,drive=a,scsi-id=2"),
            ],
        )
        .unwrap();
        assert_eq!(devs.len(), 2);
        assert_eq!(units(&devs[0]).len(), 1);
        let u = units(&devs[1]);
        assert_eq!((u[0].0.as_str(), u[0].1, u[0].3), ("x.iso", true, 2));
    }

    #[test]
    fn spapr_vscsi_controllers_take_units_within_their_addressing() {
        let devs = resolve(
            &mut scsi_drives(),
            &[],
            &[],
            &[
                pend("spapr-vscsi,id=v,reg=0x71000020"),
                pend("scsi-hd,drive=a,bus=v.0,scsi-id=63,lun=31"),
                pend("scsi-cd,drive=b"),
            ],
        )
        .unwrap();
        assert!(matches!(
            devs[0],
            DeviceConfig::SpaprVscsi {
                reg: Some(0x7100_0020),
                ..
            }
        ));
        let u = units(&devs[0]);
        assert_eq!((u[0].3, u[0].4, u[1].1, u[1].3), (63, 31, true, 0));
        let e = |pending: &[&str]| {
            let p: Vec<PendingDevice> = pending.iter().map(|v| pend(v)).collect();
            resolve(&mut scsi_drives(), &[], &[], &p).unwrap_err()
        };
        assert_eq!(
            e(&["spapr-vscsi", "scsi-hd,drive=a,scsi-id=64"]),
            "-device scsi-hd,drive=a,scsi-id=64: scsi-id=64: expected 0-63 on bus scsi.0"
        );
        assert_eq!(
            e(&["spapr-vscsi,id=v", "scsi-hd,drive=a,lun=32"]),
            "-device scsi-hd,drive=a,lun=32: lun=32: expected 0-31 on bus v.0"
        );
        assert_eq!(
            e(&["spapr-vscsi,reg=x"]),
            "-device spapr-vscsi,reg=x: reg=x: not a 32-bit number"
        );
        assert_eq!(
            e(&["spapr-vscsi,queues=2"]),
            "-device spapr-vscsi,queues=2: unknown or unsupported property 'queues' of spapr-vscsi"
        );
        assert_eq!(
            e(&["spapr-vscsi,id=s", "virtio-scsi-pci,id=s"]),
            "-device virtio-scsi-pci,id=s: id=s: a SCSI controller with that id exists"
        );
    }

    /// `if=scsi`, `-hda`..`-hdd` and `-cdrom` share the default SCSI bus: an index is the
    /// scsi-id (indexed drives placed first), the others take free ids in order.
    #[test]
    fn default_scsi_bus_drives_take_their_index() {
        let mut drives = vec![
            drive("-drive", "file=d.img,if=scsi").unwrap(),
            cdrom(PathBuf::from("x.iso")),
            hd("-hdb", 1, PathBuf::from("b.img")),
            drive("-drive", "file=c.iso,if=scsi,media=cdrom,index=5").unwrap(),
            hd("-hda", 0, PathBuf::from("a.img")),
        ];
        let devs = resolve(&mut drives, &[], &[], &[]).unwrap();
        assert_eq!(devs.len(), 1);
        assert!(matches!(devs[0], DeviceConfig::SpaprVscsi { .. }));
        let u: Vec<(String, bool, u16, String)> = units(&devs[0])
            .into_iter()
            .map(|u| (u.0, u.1, u.3, u.6))
            .collect();
        let want = [
            ("b.img", false, 1, "scsi0-hd1"),
            ("c.iso", true, 5, "scsi0-cd5"),
            ("a.img", false, 0, "scsi0-hd0"),
            ("d.img", false, 2, "scsi0-hd2"),
            ("x.iso", true, 3, "scsi0-cd3"),
        ];
        let want: Vec<(String, bool, u16, String)> = want
            .iter()
            .map(|w| (w.0.into(), w.1, w.2, w.3.into()))
            .collect();
        assert_eq!(u, want);
        // Two drives at one index, an index past bus 0, a bus other than 0.
        let mut drives = vec![
            hd("-hda", 0, PathBuf::from("a.img")),
            drive("-drive", "file=e.img,if=scsi,index=0").unwrap(),
        ];
        assert_eq!(
            resolve(&mut drives, &[], &[], &[]).unwrap_err(),
            "-drive file=e.img,if=scsi,index=0: scsi-id 0 of bus scsi.0 is already taken by -hda a.img"
        );
        let mut drives = vec![drive("-drive", "file=e.img,if=scsi,index=7").unwrap()];
        assert_eq!(
            resolve(&mut drives, &[], &[], &[]).unwrap_err(),
            "-drive file=e.img,if=scsi,index=7: index=7 is on SCSI bus 1; only bus 0 (index 0-6) exists"
        );
        assert_eq!(
            drive("-drive", "file=e.img,if=scsi,bus=1").unwrap_err(),
            "-drive file=e.img,if=scsi,bus=1: bus=1: only bus 0 exists"
        );
        assert!(drive("-drive", "file=e.img,if=ide")
            .unwrap_err()
            .contains("if=ide: not supported yet"));
    }

    #[test]
    fn bad_scsi_combinations_name_the_culprit() {
        let e = |pending: &[&str]| {
            let p: Vec<PendingDevice> = pending.iter().map(|v| pend(v)).collect();
            resolve(&mut scsi_drives(), &[], &[], &p).unwrap_err()
        };
        assert_eq!(
            e(&["scsi-hd,drive=a"]),
            "-device scsi-hd,drive=a: no SCSI bus for scsi-hd (add -device spapr-vscsi or virtio-scsi-pci)"
        );
        assert_eq!(
            e(&["virtio-scsi-pci,id=s0", "scsi-hd,drive=a,bus=nope.0"]),
            "-device scsi-hd,drive=a,bus=nope.0: bus=nope.0: no SCSI bus with that name (-device virtio-scsi-pci,id=ID or spapr-vscsi,id=ID makes bus ID.0)"
        );
        // Without an id the bus is scsi.0.
        assert!(e(&["virtio-scsi-pci", "scsi-hd,drive=a,bus=s0.0"]).contains("bus=s0.0"));
        assert_eq!(
            e(&[
                "virtio-scsi-pci,id=s0",
                "scsi-hd,drive=a,scsi-id=1",
                "scsi-hd,drive=b,scsi-id=1,lun=0"
            ]),
            "-device scsi-hd,drive=b,scsi-id=1,lun=0: scsi-id=1,lun=0 on bus s0.0 is already used by drive=a"
        );
        assert_eq!(
            e(&[
                "virtio-scsi-pci",
                "scsi-hd,drive=a,bus=scsi.0",
                "scsi-cd,drive=a"
            ]),
            "-device scsi-cd,drive=a: drive=a: already in use by another device"
        );
        assert!(e(&[
            "virtio-scsi-pci",
            "virtio-blk-pci,drive=a",
            "scsi-hd,drive=a"
        ])
        .contains("already in use"));
        assert!(e(&["virtio-scsi-pci", "scsi-hd,drive=zz"]).contains("drive=zz: no -drive"));
        assert!(e(&["virtio-scsi-pci", "scsi-cd"]).contains("missing drive="));
        assert!(e(&["virtio-scsi-pci", "scsi-hd,drive=a,channel=1"]).contains("channel=1"));
        assert!(e(&["virtio-scsi-pci", "scsi-hd,drive=a,scsi-id=256"]).contains("scsi-id=256"));
        assert!(e(&["virtio-scsi-pci", "scsi-hd,drive=a,lun=16384"]).contains("lun=16384"));
        assert!(e(&["virtio-scsi-pci", "scsi-hd,drive=a,wwn=1"]).contains("'wwn'"));
        assert!(e(&["virtio-scsi-pci,num_queues=0"]).contains("num_queues=0"));
        assert!(e(&["virtio-scsi-pci,num_queues=63"]).contains("expected 1-62"));
        assert!(e(&["virtio-scsi-pci,disable-modern=on"]).contains("modern"));
        assert!(e(&["virtio-scsi-pci,bogus=1"]).contains("'bogus'"));
        assert_eq!(
            e(&["virtio-scsi-pci,id=s", "virtio-scsi-pci,id=s"]),
            "-device virtio-scsi-pci,id=s: id=s: a SCSI controller with that id exists"
        );
        assert!(handles("scsi-hd") && handles("scsi-cd") && handles("virtio-scsi-pci"));
    }
}
