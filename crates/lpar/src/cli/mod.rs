//! The command line: the QEMU options pseries users pass, with QEMU's syntax (single-dash long
//! options, `key=value,...` lists with `,,` for a literal comma) and QEMU's defaults. Anything lpar
//! cannot honour is refused with one message naming the culprit rather than silently ignored.

mod blockdev;
mod devices;
mod net;
mod tpm;

use spapr::MachineConfig;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// What the command line asks lpar to do.
#[derive(Debug)]
pub enum Action {
    Help,
    Version,
    /// `-M help`, `-cpu help`, `-accel help`, `-device help`: a listing to print.
    List(&'static str),
    Run(Box<Options>),
}

/// Where the guest console (the spapr-vty, hvc0) goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serial {
    /// The terminal; `mux` is QEMU's `mon:stdio` (Ctrl-A escapes, Ctrl-C goes to the guest).
    Stdio { mux: bool },
    /// Output dropped, no input (`-serial null`/`none`, or `-nodefaults` without `-serial`).
    Null,
}

#[derive(Debug)]
pub struct Options {
    pub config: MachineConfig,
    pub serial: Serial,
    /// Accepted options that have no effect here; printed as warnings.
    pub warnings: Vec<String>,
}

pub const HELP: &str = "\
Usage: lpar [options]
A pSeries (sPAPR) machine emulator with QEMU's command line (qemu-system-ppc64 -M pseries).

  -M, -machine [type=]pseries[,prop=value,...]
                         the machine (pseries is the default); properties:
                           accel=tcg, x-vof=on|off (off needs a SLOF image in -bios),
                           kernel-addr=ADDR, ic-mode=xics, max-cpu-compat=power9,
                           resize-hpt=default|disabled|enabled, vsmt=1|2|4|8, usb=off,
                           cap-htm=off, cap-vsx=on, cap-dfp=off, cap-nested-hv=off,
                           cap-rpt-invalidate=off, cap-ail-mode-3=on, cap-large-decr=on|off,
                           cap-fwnmi=on|off, cap-ccf-assist=on|off,
                           cap-cfpc=, cap-sbbc=broken|workaround|fixed,
                           cap-ibs=broken|workaround|fixed-ibs|fixed-ccd|fixed-na,
                           cap-hpt-max-page-size=SIZE
                         (-M help lists the machines)
  -cpu MODEL[,compat=powerN]
                         POWER7, POWER8, POWER9 (default), POWER10, max; compat limits
                         the compatibility mode the guest can negotiate
  -m [size=]SIZE         guest RAM: a multiple of 256M (default 512M; suffixes K M G T,
                         no suffix means MiB; e.g. 1G, 1536, 1.5G)
  -smp [cpus=]N[,maxcpus=,sockets=,cores=,threads=]
                         vCPUs (up to 1024), each on its own host thread; threads=1,2,4,8
                         SMT threads per core
  -kernel FILE           boot this Linux kernel (a ppc64 vmlinux ELF)
  -initrd FILE           initial ram disk for the kernel
  -append STRING         kernel command line
  -bios FILE             firmware image instead of the built-in client interface
  -accel tcg[,thread=single|multi,tb-size=N,jit=on|off|check,jit-threshold=N]
                         the accelerator: software emulation only; thread=single
                         runs all vCPUs round-robin on one thread; tb-size: MiB
                         of host memory for decoded and translated code (default
                         64); jit=off interprets every instruction, jit=check
                         runs each translated block against the interpreter and
                         reports differences (slow; default jit=on); a block
                         is translated once reached jit-threshold times (1000)
  -icount [shift=]N[,sleep=off]
                         reproducible mode: each instruction takes 2^N ns of virtual
                         time (N 0..10), vCPUs run round-robin on one thread and idle
                         time is skipped, so the same inputs give the same output
  -rtc [base=utc|DATE][,clock=host|rt|vm]
                         the guest's time of day: from DATE (2006-06-17T16:01:21), on
                         the virtual clock with clock=vm and -icount
  -nographic             no display: the console is on stdio (mon:stdio)
  -serial stdio|mon:stdio|null|none
                         where the console (hvc0) goes; on mon:stdio, Ctrl-A h lists
                         the escapes and Ctrl-A x quits
  -monitor none          no monitor (the QEMU monitor is not implemented)
  -display none, -vga none
                         accepted: lpar has no graphical display
  -drive file=F[,if=virtio|none][,id=ID][,format=raw][,readonly=on][,media=cdrom]
         [,cache=writeback|none|writethrough|directsync|unsafe][,serial=S]
                         a disk image; if=virtio (the default) makes a virtio-blk-pci
                         device, if=none waits for -device virtio-blk-pci,drive=ID
  -drive if=pflash,file=F,format=raw, or -drive if=none,id=ID,... -global spapr-nvram.drive=ID
                         keep the NVRAM (spapr-nvram, 8K-1M) in an image across runs
  -blockdev driver=qcow2|raw,node-name=N,file=F | file.driver=file,file.filename=P
  -blockdev driver=file,node-name=F,filename=P   (also in JSON form)
                         block nodes; -device virtio-blk-pci,drive=N uses one
  -device virtio-blk-pci,drive=ID[,bus=pci.N][,addr=SLOT][,num-queues=N]
  -device virtio-scsi-pci[,id=ID][,num_queues=N][,bus=pci.N][,addr=SLOT]
                         a SCSI controller; its bus is ID.0 (scsi.0 without an id)
  -device spapr-vscsi[,id=ID][,reg=ADDR]
                         a PowerVM virtual SCSI adapter (ibmvscsi); its bus is ID.0
  -device scsi-hd,drive=ID[,bus=ID.0][,scsi-id=N][,lun=N][,serial=S]
  -device scsi-cd,drive=ID[,bus=ID.0][,scsi-id=N][,lun=N]
                         a SCSI disk or CD-ROM (read-only) on a SCSI bus (the first
                         controller without bus=); scsi-id 0-255, lun 0-16383 on
                         virtio-scsi, 0-63 and 0-31 on spapr-vscsi
  -drive if=scsi,file=F[,index=N][,media=cdrom], -hda/-hdb/-hdc/-hdd FILE (index 0-3)
  -cdrom FILE            disks and a CD-ROM (index 2) on the default SCSI bus, a
                         spapr-vscsi of their own as in QEMU; index N is scsi-id N
  -tpmdev emulator,id=ID,chardev=CHR -chardev socket,id=CHR,path=SOCK
  -device tpm-spapr,tpmdev=ID[,reg=ADDR]
                         a TPM (PowerVM's vTPM, tpm_ibmvtpm) on a swtpm whose control
                         socket is SOCK (swtpm socket --tpm2 --ctrl type=unixio,path=SOCK)
  -device virtio-rng-pci[,rng=ID], -object rng-random,id=ID[,filename=F] | rng-builtin,id=ID
                         entropy for the guest's /dev/hwrng (default: the host's getrandom)
  -device virtio-balloon-pci
  -chardev socket,id=ID,path=P|port=N[,server=on,wait=off] | file,id=ID,path=P | null,id=ID
  -device virtio-serial-pci -device virtconsole,chardev=ID
                         a second console (the guest's /dev/hvc1) on a chardev
  -device spapr-pci-host-bridge,index=N
                         another PCI host bridge (bridge 0 is always there)
  -device spapr-vty|spapr-nvram
                         accepted: the machine always has them
  -device spapr-vty,chardev=ID[,reg=N]
                         a further hypervisor console (the guest's /dev/hvc1...) on a chardev
  -device spapr-rng[,rng=ID]
                         H_RANDOM for the guest (pseries-rng, /dev/hwrng)
  -nic none, -net none   no network (the default)
  -nodefaults            no default devices: without -serial the console is dropped
  -no-reboot             exit when the guest reboots
  -name NAME             accepted and ignored
  -d ITEMS, -D FILE      QEMU debug logging: ignored with a warning
  -no-user-config        accepted (lpar reads no configuration files)
  -h, -help, --help      this help
  -version, --version    version information

Options take one or two dashes. Exit status: 0 after the guest powers off (or reboots with
-no-reboot, or Ctrl-A x), 1 on a bad command line or when the guest terminates abnormally.
";

pub const MACHINES: &str = "\
Supported machines are:
pseries              pSeries Logical Partition (PAPR compliant) (default)
";

pub const CPUS: &str = "\
Available CPUs:
  POWER7, POWER8, POWER9 (the default), POWER10 (any case; _vX.Y revision suffixes accepted)
  max (POWER10)
  properties: compat=power7|power8|power9|power10 (no newer than the CPU)
";

pub const ACCELS: &str = "\
Accelerators supported in lpar:
tcg
";

pub const DEVICES: &str = "\
Devices (the machine always has spapr-vty, spapr-nvram and spapr-pci-host-bridge index=0):
name \"spapr-vty\", bus spapr-vio-bus
name \"spapr-nvram\", bus spapr-vio-bus
name \"spapr-vty\", bus spapr-vio-bus, desc \"chardev=ID[,reg=N]: a further console\"
name \"spapr-rng\", bus System, desc \"[rng=ID]\"
name \"spapr-vlan\", bus spapr-vio-bus, desc \"netdev=ID[,mac=MAC][,reg=N]\"
name \"spapr-vscsi\", bus spapr-vio-bus, desc \"[id=ID][,reg=N]\"
name \"tpm-spapr\", bus spapr-vio-bus, desc \"tpmdev=ID[,reg=N]: a TPM on -tpmdev emulator (swtpm)\"
name \"spapr-pci-host-bridge\", bus System, desc \"more PCI buses: index=N (1-63)\"
name \"virtio-blk-pci\", bus PCI, desc \"drive=ID[,bus=pci.N][,addr=SLOT][,num-queues=N][,serial=S]\"
name \"virtio-rng-pci\", bus PCI, desc \"[rng=ID][,bus=pci.N][,addr=SLOT]\"
name \"virtio-balloon-pci\", bus PCI
name \"virtio-net-pci\", bus PCI, desc \"netdev=ID[,mac=MAC][,mq=on][,csum=..][,bus=pci.N][,addr=SLOT]\"
name \"virtio-serial-pci\", bus PCI, desc \"one virtconsole port\"
name \"virtconsole\", bus virtio-serial-bus, desc \"chardev=ID\"
name \"virtio-scsi-pci\", bus PCI, desc \"[id=ID][,num_queues=N][,bus=pci.N][,addr=SLOT]\"
name \"scsi-hd\", bus SCSI, desc \"drive=ID[,bus=ID.0][,channel=0][,scsi-id=N][,lun=N][,serial=S]\"
name \"scsi-cd\", bus SCSI, desc \"drive=ID[,bus=ID.0][,channel=0][,scsi-id=N][,lun=N][,serial=S]\"
";

/// Options QEMU has that lpar knows about but does not implement yet.
const NOT_YET: &[&str] = &[
    "hda",
    "hdb",
    "hdc",
    "hdd",
    "fda",
    "pflash",
    "sd",
    "mtdblock",
    "snapshot",
    "mon",
    "qmp",
    "fsdev",
    "virtfs",
    "usb",
    "usbdevice",
    "numa",
    "gdb",
    "s",
    "S",
    "incoming",
    "loadvm",
    "no-shutdown",
    "vnc",
    "spice",
    "audiodev",
];

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Action, String> {
    let mut p = lexopt::Parser::from_args(args);
    let mut b = Builder::default();
    while let Some(name) = next_option(&mut p)? {
        let opt = format!("-{name}");
        match name.as_str() {
            "h" | "help" => return Ok(Action::Help),
            "version" => return Ok(Action::Version),
            "M" | "machine" => {
                if let Some(list) = b.machine(&opt, &value(&mut p, &opt)?)? {
                    return Ok(Action::List(list));
                }
            }
            "cpu" => {
                if let Some(list) = cpu(&opt, &value(&mut p, &opt)?, &mut b.config)? {
                    return Ok(Action::List(list));
                }
            }
            "m" => b.config.ram_size = memory(&opt, &value(&mut p, &opt)?)?,
            "smp" => {
                let v = value(&mut p, &opt)?;
                let (cpus, cores, threads, maxcpus) = smp(&opt, &v)?;
                if maxcpus > cpus {
                    b.warnings.push(format!(
                        "{opt} {v}: CPU hotplug is not supported yet: the guest has the {cpus} CPUs present, not {maxcpus}"
                    ));
                }
                b.config.smp = cpus;
                b.config.cores = cores;
                b.config.threads = threads;
            }
            "kernel" => b.config.kernel = Some(PathBuf::from(raw_value(&mut p, &opt)?)),
            "initrd" => b.config.initrd = Some(PathBuf::from(raw_value(&mut p, &opt)?)),
            "bios" => b.config.bios = Some(PathBuf::from(raw_value(&mut p, &opt)?)),
            "append" => {
                b.config.append = value(&mut p, &opt)?;
                b.append_given = true;
            }
            "accel" => {
                if let Some(list) = accel(&opt, &value(&mut p, &opt)?, &mut b.config)? {
                    return Ok(Action::List(list));
                }
            }
            "enable-kvm" => {
                return Err(format!(
                    "{opt}: KVM is not available (lpar emulates the CPU in software)"
                ))
            }
            "icount" => b.config.icount = Some(icount(&opt, &value(&mut p, &opt)?)?),
            "rtc" => rtc(&opt, &value(&mut p, &opt)?, &mut b.config)?,
            "nodefaults" => b.nodefaults = true,
            "nographic" => {}
            "no-user-config" => {}
            "no-reboot" => b.config.no_reboot = true,
            "serial" => b.serial(&opt, &value(&mut p, &opt)?)?,
            "monitor" => {
                let v = value(&mut p, &opt)?;
                if v != "none" {
                    return Err(format!(
                        "{opt} {v}: the QEMU monitor is not supported yet (use -monitor none)"
                    ));
                }
                b.monitor_none = true;
            }
            "display" => {
                let v = value(&mut p, &opt)?;
                if v != "none" {
                    return Err(format!(
                        "{opt} {v}: lpar has no graphical display (use -nographic)"
                    ));
                }
            }
            "vga" => {
                let v = value(&mut p, &opt)?;
                if v != "none" {
                    return Err(format!(
                        "{opt} {v}: lpar has no graphics devices (use -vga none)"
                    ));
                }
            }
            "device" => {
                let v = value(&mut p, &opt)?;
                let driver = keyval(&v, "driver").first().map(|(_, d)| d.clone());
                // A spapr-vty on a -chardev is a further console; without one it is the machine's.
                let vty_on_chardev = driver.as_deref() == Some("spapr-vty")
                    && keyval(&v, "driver").iter().any(|(k, _)| k == "chardev");
                if driver.as_deref().is_some_and(net::handles) {
                    b.net_pending.push((opt, v));
                } else if driver.as_deref().is_some_and(tpm::handles) {
                    b.tpm_pending.push((opt, v));
                } else if vty_on_chardev || driver.as_deref().is_some_and(devices::handles) {
                    b.pending.push(devices::PendingDevice { opt, value: v });
                } else if let Some(list) = device(&opt, &v)? {
                    return Ok(Action::List(list));
                }
            }
            "drive" => b.drives.push(devices::drive(&opt, &value(&mut p, &opt)?)?),
            "cdrom" => b
                .drives
                .push(devices::cdrom(PathBuf::from(raw_value(&mut p, &opt)?))),
            "hda" | "hdb" | "hdc" | "hdd" => {
                let n = u32::from(name.as_bytes()[2] - b'a');
                let f = PathBuf::from(raw_value(&mut p, &opt)?);
                b.drives.push(devices::hd(&opt, n, f))
            }
            "object" => b
                .objects
                .push(devices::object(&opt, &value(&mut p, &opt)?)?),
            "global" => b.nvram_drive = Some(devices::global(&opt, &value(&mut p, &opt)?)?),
            "blockdev" => b
                .blockdevs
                .push(blockdev::blockdev(&opt, &value(&mut p, &opt)?)?),
            "chardev" => {
                let v = value(&mut p, &opt)?;
                b.chardevs
                    .push(chardev::parse(&opt, &keyval(&v, "backend"))?);
            }
            "netdev" => b.netdevs.push(net::netdev(&opt, &value(&mut p, &opt)?)?),
            "tpmdev" => b.tpmdevs.push(tpm::tpmdev(&opt, &value(&mut p, &opt)?)?),
            "nic" => {
                let v = value(&mut p, &opt)?;
                if v != "none" {
                    let (n, nic) = net::nic(&opt, &v, b.nics.len())?;
                    b.netdevs.push(n);
                    b.nics.push(nic);
                }
            }
            "net" => {
                let v = value(&mut p, &opt)?;
                if v != "none" {
                    b.legacy_net.add(&opt, &v)?;
                }
            }
            "name" => {
                raw_value(&mut p, &opt)?;
            }
            "d" | "D" => {
                let v = value(&mut p, &opt)?;
                b.warnings.push(format!(
                    "{opt} {v}: QEMU debug logging is not supported; ignored"
                ));
            }
            n if NOT_YET.contains(&n) => return Err(format!("{opt}: not supported yet")),
            _ => return Err(format!("{opt}: unknown option (see lpar --help)")),
        }
    }
    b.finish().map(|o| Action::Run(Box::new(o)))
}

/// The next option's name without its dashes, or None at the end.
fn next_option(p: &mut lexopt::Parser) -> Result<Option<String>, String> {
    // QEMU options take a single dash ("-kernel"), which lexopt would read as a cluster of short
    // options: take such arguments raw and leave "--name" and values to lexopt.
    if let Some(mut raw) = p.try_raw_args() {
        if let Some(arg) = raw.next_if(single_dash) {
            return match arg.to_str() {
                Some(s) => Ok(Some(s[1..].to_string())),
                None => Err(format!("'{}': unknown option", arg.to_string_lossy())),
            };
        }
    }
    match p.next() {
        Ok(None) => Ok(None),
        Ok(Some(lexopt::Arg::Long(n))) => Ok(Some(n.to_string())),
        Ok(Some(lexopt::Arg::Short(c))) => Ok(Some(c.to_string())),
        Ok(Some(lexopt::Arg::Value(v))) => Err(format!(
            "'{}': unexpected argument (disk images are not supported yet)",
            v.to_string_lossy()
        )),
        Err(e) => Err(e.to_string()),
    }
}

fn single_dash(a: &OsStr) -> bool {
    let b = a.as_encoded_bytes();
    b.len() >= 2 && b[0] == b'-' && b[1] != b'-'
}

fn raw_value(p: &mut lexopt::Parser, opt: &str) -> Result<OsString, String> {
    p.value()
        .map_err(|_| format!("{opt}: requires an argument"))
}

fn value(p: &mut lexopt::Parser, opt: &str) -> Result<String, String> {
    raw_value(p, opt)?
        .into_string()
        .map_err(|v| format!("{opt} '{}': not valid UTF-8", v.to_string_lossy()))
}

/// Splits a QEMU option list "a=1,b,c=x,,y" into (key, value) pairs; a bare first item gets
/// `implied` as its key, a bare later item means "key=on"; ",," is a literal comma.
fn keyval(s: &str, implied: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    loop {
        match chars.next() {
            Some(',') if chars.peek() == Some(&',') => {
                chars.next();
                cur.push(',');
            }
            Some(',') => items.push(std::mem::take(&mut cur)),
            Some(c) => cur.push(c),
            None => {
                items.push(cur);
                break;
            }
        }
    }
    items
        .into_iter()
        .enumerate()
        .filter(|(i, item)| !(item.is_empty() && *i > 0))
        .map(|(i, item)| match item.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None if i == 0 && !implied.is_empty() => (implied.to_string(), item),
            None => (item, "on".to_string()),
        })
        .collect()
}

/// QEMU's boolean spellings.
fn boolean(v: &str) -> Option<bool> {
    match v {
        "on" | "yes" | "true" | "y" => Some(true),
        "off" | "no" | "false" | "n" => Some(false),
        _ => None,
    }
}

/// An unsigned number as QEMU's integer properties take it: decimal, 0x hex or 0 octal.
pub fn number(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

/// A size in QEMU's syntax: a decimal number (a fraction allowed) with an optional suffix
/// B K M G T P E (powers of 1024, either case), or a 0x hex integer; no suffix means `default_unit`.
pub fn size(s: &str, default_unit: u64) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok()?.checked_mul(default_unit);
    }
    let (num, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'B' => 0,
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                'P' => 50,
                'E' => 60,
                _ => return None,
            };
            (&s[..i], 1u64 << shift)
        }
        _ => (s, default_unit),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 18
        || (num.contains('.') && frac.is_empty())
    {
        return None;
    }
    let whole = int.parse::<u64>().ok()?.checked_mul(unit)?;
    if frac.is_empty() {
        return Some(whole);
    }
    // A fraction of a byte is meaningless.
    if unit == 1 {
        return None;
    }
    let den = 10u128.pow(frac.len() as u32);
    let part = frac.parse::<u128>().ok()? * unit as u128 / den;
    whole.checked_add(u64::try_from(part).ok()?)
}

/// pseries memory comes in logical memory blocks of this size.
const LMB: u64 = 256 << 20;

fn memory(opt: &str, v: &str) -> Result<u64, String> {
    let mut bytes = None;
    for (k, val) in keyval(v, "size") {
        match k.as_str() {
            "size" => {
                bytes = Some(
                    size(&val, 1 << 20)
                        .filter(|&b| b > 0)
                        .ok_or_else(|| format!("{opt} '{val}': invalid size"))?,
                )
            }
            "slots" | "maxmem" => {
                return Err(format!(
                    "{opt} {v}: {k}: memory hotplug is not supported yet"
                ))
            }
            _ => return Err(format!("{opt} {v}: unknown parameter '{k}'")),
        }
    }
    let bytes = bytes.ok_or_else(|| format!("{opt} '{v}': invalid size"))?;
    if bytes % LMB != 0 {
        return Err(format!(
            "{opt} {v}: pseries memory must be a multiple of 256M"
        ));
    }
    Ok(bytes)
}

/// `-icount [shift=]N[,sleep=off]`: the virtual clock's shift. Idle time is always skipped, as
/// QEMU's sleep=off; the modes that need a host clock or a record file are refused.
fn icount(opt: &str, v: &str) -> Result<u32, String> {
    let mut shift = None;
    for (k, val) in keyval(v, "shift") {
        match k.as_str() {
            "shift" if val == "auto" => {
                return Err(format!(
                    "{opt} {v}: shift=auto is not supported (give shift=N, N from 0 to 10)"
                ))
            }
            "shift" => {
                match number(&val).filter(|&n| n <= ppc::clock::VirtualClock::MAX_SHIFT as u64) {
                    Some(n) => shift = Some(n as u32),
                    None => return Err(format!("{opt} {v}: shift={val}: expected 0 to 10")),
                }
            }
            "sleep" if boolean(&val) == Some(false) => {}
            "sleep" => {
                return Err(format!(
                    "{opt} {v}: sleep={val}: idle time is always skipped (sleep=off)"
                ))
            }
            "align" | "rr" | "rrfile" | "rrsnapshot" => {
                return Err(format!("{opt} {v}: {k}= is not supported"))
            }
            _ => return Err(format!("{opt} {v}: unknown parameter '{k}'")),
        }
    }
    shift.ok_or_else(|| format!("{opt} {v}: give shift=N"))
}

/// `-rtc [base=utc|DATE][,clock=host|rt|vm][,driftfix=none]`, DATE as 2006-06-17T16:01:21 or
/// 2006-06-17 (UTC). localtime is refused: lpar keeps UTC.
fn rtc(opt: &str, v: &str, c: &mut MachineConfig) -> Result<(), String> {
    for (k, val) in keyval(v, "base") {
        match k.as_str() {
            "base" if val == "utc" => c.rtc_base = None,
            "base" => {
                c.rtc_base = Some(parse_date(&val).ok_or_else(|| {
                    format!(
                        "{opt} {v}: base={val}: expected utc or a date like 2006-06-17T16:01:21"
                    )
                })?)
            }
            "clock" if val == "host" || val == "rt" => c.rtc_vm = false,
            "clock" if val == "vm" => c.rtc_vm = true,
            "driftfix" if val == "none" || val == "slew" => {}
            "clock" | "driftfix" => {
                return Err(format!("{opt} {v}: invalid value '{val}' for {k}"))
            }
            _ => return Err(format!("{opt} {v}: unknown parameter '{k}'")),
        }
    }
    Ok(())
}

/// "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS" (UTC) as Unix seconds.
fn parse_date(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T').unwrap_or((s, "00:00:00"));
    let d: Vec<u32> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<u32> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let ([y, mo, da], [h, mi, se]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    if !(1970..=9999).contains(y)
        || !(1..=12).contains(mo)
        || !(1..=31).contains(da)
        || *h > 23
        || *mi > 59
        || *se > 59
    {
        return None;
    }
    Some(
        spapr::rtas::days_from_civil(*y as i64, *mo, *da) * 86_400
            + (*h as i64) * 3600
            + (*mi as i64) * 60
            + *se as i64,
    )
}

/// Most vCPUs a pseries machine takes (QEMU's pseries limit).
pub const MAX_CPUS: u64 = 1024;

/// `-smp [cpus=]N[,maxcpus=M][,sockets=S][,cores=C][,threads=T]` with QEMU's rules (since 6.2):
/// omitted members are derived preferring cores, then sockets, then threads; the product of the
/// topology must equal maxcpus, which must be at least cpus. Returns the number of vCPUs, the
/// cores per socket, the threads per core and maxcpus.
fn smp(opt: &str, v: &str) -> Result<(u32, u32, u32, u32), String> {
    let mut given = [None::<u64>; 5]; // cpus, maxcpus, sockets, cores, threads
    for (k, val) in keyval(v, "cpus") {
        let n = number(&val).ok_or_else(|| format!("{opt} '{v}': invalid {k} '{val}'"))?;
        let slot = match k.as_str() {
            "cpus" => 0,
            "maxcpus" => 1,
            "sockets" => 2,
            "cores" => 3,
            "threads" => 4,
            "dies" | "clusters" | "books" | "drawers" | "modules" if n <= 1 => continue,
            "dies" | "clusters" | "books" | "drawers" | "modules" => {
                return Err(format!(
                    "{opt} {v}: {k} > 1 not supported by the pseries CPU topology"
                ))
            }
            _ => return Err(format!("{opt} {v}: unknown parameter '{k}'")),
        };
        if n == 0 {
            return Err(format!(
                "{opt} {v}: invalid CPU topology: {k} must be greater than zero"
            ));
        }
        given[slot] = Some(n);
    }
    let [cpus, maxcpus, mut sockets, mut cores, mut threads] = given;
    let mut maxcpus = maxcpus;
    if cpus.is_none() && maxcpus.is_none() {
        sockets.get_or_insert(1);
        cores.get_or_insert(1);
        threads.get_or_insert(1);
    } else {
        let max = maxcpus.or(cpus).unwrap_or(1);
        maxcpus = Some(max);
        if cores.is_none() {
            let (s, t) = (*sockets.get_or_insert(1), *threads.get_or_insert(1));
            cores = Some(max / (s * t));
        } else if sockets.is_none() {
            let (c, t) = (cores.unwrap_or(1), *threads.get_or_insert(1));
            sockets = Some(max / (c * t));
        }
        if threads.is_none() {
            threads = Some(max / (sockets.unwrap_or(1) * cores.unwrap_or(1)).max(1));
        }
    }
    let (s, c, t) = (
        sockets.unwrap_or(1),
        cores.unwrap_or(1),
        threads.unwrap_or(1),
    );
    let total = s.saturating_mul(c).saturating_mul(t);
    let maxcpus = maxcpus.unwrap_or(total);
    let cpus = cpus.unwrap_or(maxcpus);
    let topo = format!("sockets ({s}) * cores ({c}) * threads ({t})");
    if total != maxcpus {
        return Err(format!(
            "{opt} {v}: invalid CPU topology: {topo} != maxcpus ({maxcpus})"
        ));
    }
    if maxcpus < cpus {
        return Err(format!(
            "{opt} {v}: invalid CPU topology: maxcpus ({maxcpus}) < cpus ({cpus})"
        ));
    }
    if maxcpus > MAX_CPUS {
        return Err(format!(
            "{opt} {v}: {maxcpus} CPUs: pseries supports at most {MAX_CPUS}"
        ));
    }
    if !matches!(t, 1 | 2 | 4 | 8) {
        return Err(format!(
            "{opt} {v}: threads={t}: a POWER core has 1, 2, 4 or 8 threads"
        ));
    }
    Ok((cpus as u32, c as u32, t as u32, maxcpus as u32))
}

/// A CPU model with its QEMU aliases; `max` is the newest model (all features), `host` needs KVM.
fn cpu_model(opt: &str, model: &str) -> Result<ppc::CpuModel, String> {
    let m = model.to_ascii_lowercase();
    let base = m.split('_').next().unwrap_or("");
    if m == "max" {
        return Ok(ppc::CpuModel::Power10);
    }
    if m == "host" {
        return Err(format!(
            "{opt} host: needs KVM, which a non-POWER host has not (name a model, e.g. POWER9)"
        ));
    }
    match ppc::CpuModel::from_name(base) {
        // POWER7 reaches init but Debian's userland needs POWER8; the model is offered anyway,
        // as QEMU does.
        Some(cm) => Ok(cm),
        None if m.starts_with("power") || m.starts_with("970") => {
            Err(format!("{opt} {model}: unsupported CPU model"))
        }
        None => Err(format!("{opt} {model}: unknown CPU model")),
    }
}

/// -cpu MODEL[,compat=powerN]: sets the model and the compatibility-mode limit.
fn cpu(
    opt: &str,
    v: &str,
    config: &mut spapr::MachineConfig,
) -> Result<Option<&'static str>, String> {
    let (model, props) = v.split_once(',').unwrap_or((v, ""));
    if matches!(model, "help" | "?") {
        return Ok(Some(CPUS));
    }
    config.cpu_model = cpu_model(opt, model)?;
    for prop in props.split(',').filter(|p| !p.is_empty()) {
        match prop.split_once('=') {
            Some(("compat", c)) => {
                let level = ppc::cpu::IsaLevel::from_compat_name(c)
                    .ok_or_else(|| format!("{opt} {v}: invalid compat mode '{c}'"))?;
                if level > config.cpu_model.isa_level() {
                    return Err(format!("{opt} {v}: compat mode newer than the CPU"));
                }
                config.max_compat = Some(level);
            }
            _ => return Err(format!("{opt} {v}: unsupported CPU property '{prop}'")),
        }
    }
    Ok(None)
}

/// Largest `-accel tcg,tb-size=` in MiB; more is surely a typo, not a wish.
const MAX_TB_SIZE_MIB: u64 = 64 << 10;

/// Accelerator names: only software emulation exists.
fn accel_name(opt: &str, name: &str) -> Result<Option<&'static str>, String> {
    match name {
        "tcg" => Ok(None),
        "help" | "?" => Ok(Some(ACCELS)),
        "kvm" => Err(format!(
            "{opt} kvm: KVM is not available (lpar emulates the CPU in software; use tcg)"
        )),
        "hvf" | "xen" | "whpx" | "nvmm" | "hax" | "qtest" => {
            Err(format!("{opt} {name}: accelerator not available (use tcg)"))
        }
        _ => Err(format!("{opt} {name}: unknown accelerator")),
    }
}

fn accel(opt: &str, v: &str, c: &mut MachineConfig) -> Result<Option<&'static str>, String> {
    for (k, val) in keyval(v, "accel") {
        match k.as_str() {
            "accel" => {
                if let Some(list) = accel_name(opt, &val)? {
                    return Ok(Some(list));
                }
            }
            "thread" if val == "single" || val == "multi" => c.single_thread = val == "single",
            // MiB of host memory for decoded code, as QEMU's; 0 keeps the default.
            "tb-size" if number(&val).is_some_and(|n| n <= MAX_TB_SIZE_MIB) => {
                if let Some(mib) = number(&val).filter(|&n| n > 0) {
                    c.tb_size = mib << 20;
                }
            }
            "jit" => {
                c.jit.mode = match val.as_str() {
                    "on" => ppc::jit::JitMode::On,
                    "off" => ppc::jit::JitMode::Off,
                    "check" => ppc::jit::JitMode::Check,
                    _ => {
                        return Err(format!(
                            "{opt} {v}: invalid value '{val}' for jit (on, off or check)"
                        ))
                    }
                }
            }
            "jit-threshold" if number(&val).is_some_and(|n| n <= u32::MAX as u64) => {
                c.jit.threshold = number(&val).unwrap_or(0) as u32;
            }
            "jit-threshold" => {
                return Err(format!(
                    "{opt} {v}: invalid value '{val}' for jit-threshold"
                ))
            }
            "one-insn-per-tb" | "split-wx" if boolean(&val).is_some() => {}
            "thread" | "tb-size" | "one-insn-per-tb" | "split-wx" => {
                return Err(format!("{opt} {v}: invalid value '{val}' for {k}"))
            }
            _ => return Err(format!("{opt} {v}: unknown accelerator property '{k}'")),
        }
    }
    Ok(None)
}

fn device(opt: &str, v: &str) -> Result<Option<&'static str>, String> {
    let items = keyval(v, "driver");
    let Some((_, driver)) = items.first() else {
        return Err(format!("{opt}: missing device name"));
    };
    let reg = match driver.as_str() {
        "help" | "?" => return Ok(Some(DEVICES)),
        "spapr-vty" => spapr::machine::layout::VTY_REG,
        "spapr-nvram" => spapr::machine::layout::NVRAM_REG,
        _ => return Err(format!("{opt} {driver}: unknown or unsupported device")),
    };
    for (k, val) in &items[1..] {
        match k.as_str() {
            "id" => {}
            "reg" if number(val) == Some(reg as u64) => {}
            "reg" => return Err(format!("{opt} {v}: {driver} is at reg={reg:#x} only")),
            _ => return Err(format!("{opt} {v}: unknown property '{k}' of {driver}")),
        }
    }
    Ok(None)
}

#[derive(Default)]
struct Builder {
    config: MachineConfig,
    append_given: bool,
    x_vof: Option<bool>,
    nodefaults: bool,
    monitor_none: bool,
    serials: Vec<Serial>,
    /// `-serial none` given: no console device, and no default one.
    serial_none: bool,
    warnings: Vec<String>,
    /// `-M vsmt=`: checked against the threads per core once -smp is known.
    vsmt: Option<u32>,
    drives: Vec<devices::Drive>,
    /// `-device`s that refer to drives, resolved at the end.
    pending: Vec<devices::PendingDevice>,
    /// `-global spapr-nvram.drive=ID`.
    nvram_drive: Option<String>,
    objects: Vec<devices::Object>,
    chardevs: Vec<chardev::Config>,
    blockdevs: Vec<blockdev::Node>,
    netdevs: Vec<::net::NetdevConfig>,
    /// NICs of `-nic`, and of `-net nic` once paired.
    nics: Vec<net::Nic>,
    legacy_net: net::Legacy,
    /// `-device`s that are NICs, resolved once every -netdev is known.
    net_pending: Vec<(String, String)>,
    tpmdevs: Vec<tpm::Tpmdev>,
    /// `-device tpm-spapr`, resolved once every -tpmdev and -chardev is known.
    tpm_pending: Vec<(String, String)>,
}

impl Builder {
    fn machine(&mut self, opt: &str, v: &str) -> Result<Option<&'static str>, String> {
        let on_off = |k: &str, val: &str| {
            boolean(val).ok_or_else(|| format!("{opt}: {k}={val}: expected on or off"))
        };
        // A property value lpar cannot provide.
        let cannot = |k: &str, val: &str, why: &str| Err(format!("{opt}: {k}={val}: {why}"));
        for (k, val) in keyval(v, "type") {
            match k.as_str() {
                "type" => match val.as_str() {
                    "pseries" => {}
                    "help" | "?" => return Ok(Some(MACHINES)),
                    _ => {
                        return Err(format!(
                            "{opt} {val}: unknown machine type (lpar has pseries)"
                        ))
                    }
                },
                "help" => return Ok(Some(MACHINES)),
                "accel" => {
                    // A ':'-separated list tried in order (QEMU's accel=kvm:tcg).
                    let mut first_err = None;
                    let mut ok = false;
                    for name in val.split(':') {
                        match accel_name(&format!("{opt} accel="), name) {
                            Ok(None) => {
                                ok = true;
                                break;
                            }
                            Ok(Some(list)) => return Ok(Some(list)),
                            Err(e) => {
                                first_err.get_or_insert(e);
                            }
                        }
                    }
                    if !ok {
                        return Err(first_err.unwrap_or_else(|| format!("{opt}: accel=: empty")));
                    }
                }
                "x-vof" => self.x_vof = Some(on_off(&k, &val)?),
                "kernel-addr" => {
                    self.config.kernel_addr = number(&val)
                        .ok_or_else(|| format!("{opt}: kernel-addr={val}: not a number"))?
                }
                "ic-mode" => match val.as_str() {
                    "xics" => {}
                    "xive" | "dual" => {
                        return cannot(&k, &val, "not supported yet (XIVE; use ic-mode=xics)")
                    }
                    _ => return cannot(&k, &val, "invalid (xics, xive or dual)"),
                },
                "max-cpu-compat" => match ppc::cpu::IsaLevel::from_compat_name(&val) {
                    Some(level) => self.config.max_compat = Some(level),
                    None => return cannot(&k, &val, "invalid compatibility mode"),
                },
                "resize-hpt" => match val.as_str() {
                    "default" | "enabled" => self.config.resize_hpt = true,
                    "disabled" => self.config.resize_hpt = false,
                    // QEMU refuses guests whose CAS does not announce HPT resizing; lpar's CAS
                    // does not look at that option, so it cannot make the guarantee.
                    "required" => {
                        return cannot(
                            &k,
                            &val,
                            "not supported (guest support is not checked; use enabled)",
                        )
                    }
                    _ => {
                        return cannot(&k, &val, "invalid (default, disabled, enabled or required)")
                    }
                },
                "vsmt" => match number(&val) {
                    Some(n @ (1 | 2 | 4 | 8)) => self.vsmt = Some(n as u32),
                    _ => return cannot(&k, &val, "must be 1, 2, 4 or 8"),
                },
                "usb" => {
                    if on_off(&k, &val)? {
                        return cannot(&k, &val, "USB is not supported yet");
                    }
                }
                "graphics" | "dump-guest-core" | "mem-merge" => {
                    on_off(&k, &val)?;
                }
                "cap-htm" => {
                    if on_off(&k, &val)? {
                        return cannot(&k, &val, "this CPU has no hardware transactional memory");
                    }
                }
                "cap-vsx" => {
                    if !on_off(&k, &val)? {
                        return cannot(&k, &val, "VSX cannot be disabled");
                    }
                }
                "cap-dfp" => {
                    if on_off(&k, &val)? {
                        return cannot(&k, &val, "this CPU has no decimal floating point");
                    }
                }
                "cap-nested-hv" => {
                    if on_off(&k, &val)? {
                        return cannot(&k, &val, "nested virtualization is not supported");
                    }
                }
                "cap-rpt-invalidate" => {
                    if on_off(&k, &val)? {
                        return cannot(&k, &val, "H_RPT_INVALIDATE is not implemented");
                    }
                }
                "cap-ail-mode-3" => {
                    if !on_off(&k, &val)? {
                        return cannot(&k, &val, "AIL mode 3 cannot be disabled");
                    }
                }
                // The guest sees no difference: no machine checks are raised, and the decrementer
                // width is what the device tree advertises.
                "cap-large-decr" | "cap-fwnmi" | "cap-ccf-assist" => {
                    on_off(&k, &val)?;
                }
                // An interpreter executes nothing speculatively, so every mitigation level holds.
                "cap-cfpc" | "cap-sbbc" => match val.as_str() {
                    "broken" | "workaround" | "fixed" => {}
                    _ => return cannot(&k, &val, "invalid (broken, workaround or fixed)"),
                },
                "cap-ibs" => match val.as_str() {
                    "broken" | "workaround" | "fixed-ibs" | "fixed-ccd" | "fixed-na" => {}
                    _ => {
                        return cannot(
                            &k,
                            &val,
                            "invalid (broken, workaround, fixed-ibs, fixed-ccd or fixed-na)",
                        )
                    }
                },
                // Only matters to hash-MMU guests.
                "cap-hpt-max-page-size" => match size(&val, 1) {
                    Some(s) if s.is_power_of_two() && s >= 4096 => {}
                    _ => return cannot(&k, &val, "must be a power of 2 of at least 4K"),
                },
                _ => return Err(format!("{opt}: unknown machine property '{k}'")),
            }
        }
        Ok(None)
    }

    fn serial(&mut self, opt: &str, v: &str) -> Result<(), String> {
        let s = match v {
            "stdio" => Serial::Stdio { mux: false },
            "mon:stdio" => Serial::Stdio { mux: true },
            "null" => Serial::Null,
            "none" => {
                self.serial_none = true;
                return Ok(());
            }
            _ => {
                return Err(format!(
                    "{opt} {v}: not supported yet (use stdio, mon:stdio, null or none)"
                ))
            }
        };
        if !self.serials.is_empty() {
            return Err(format!(
                "{opt} {v}: only one serial port (the spapr-vty) is supported"
            ));
        }
        self.serials.push(s);
        Ok(())
    }

    fn finish(mut self) -> Result<Options, String> {
        self.drives.extend(blockdev::drives(&self.blockdevs)?);
        self.config.nvram = devices::nvram(&mut self.drives, self.nvram_drive.as_deref())?;
        self.config.devices = devices::resolve(
            &mut self.drives,
            &self.objects,
            &self.chardevs,
            &self.pending,
        )?;
        let (netdevs, nics) = std::mem::take(&mut self.legacy_net).finish()?;
        self.netdevs.extend(netdevs);
        self.nics.extend(nics);
        let nics = net::resolve(&self.net_pending, &self.netdevs, &self.nics)?;
        self.config.devices.extend(nics);
        let tpms = tpm::resolve(
            &self.tpm_pending,
            &self.tpmdevs,
            &self.chardevs,
            &self.config.devices,
        )?;
        self.config.devices.extend(tpms);
        if let Some(v) = self.vsmt {
            let t = self.config.threads;
            if v < t {
                return Err(format!(
                    "-M vsmt={v}: fewer than the {t} threads per core of -smp"
                ));
            }
            self.config.vsmt = v;
        }
        let c = &self.config;
        if let Some(level) = c.max_compat.filter(|&l| l > c.cpu_model.isa_level()) {
            return Err(format!(
                "-M max-cpu-compat={}: newer than the CPU model {}",
                level.compat_name(),
                c.cpu_model.name()
            ));
        }
        if c.kernel.is_none() {
            if c.initrd.is_some() {
                return Err("-initrd: only allowed with -kernel".into());
            }
            if self.append_given {
                return Err("-append: only allowed with -kernel".into());
            }
        }
        if self.x_vof == Some(false) && c.bios.is_none() {
            return Err("-M x-vof=off: SLOF is not built in: give its image with -bios".into());
        }
        if c.kernel.is_none() && c.bios.is_none() {
            return Err("nothing to boot: give -kernel (a ppc64 Linux vmlinux) or -bios".into());
        }
        // There is no graphical display, so lpar behaves as with -nographic: the console defaults
        // to stdio, multiplexed with the (escape-only) monitor unless -monitor none.
        let serial = match self.serials.first() {
            Some(&s) => s,
            None if self.serial_none || self.nodefaults => Serial::Null,
            None => Serial::Stdio {
                mux: !self.monitor_none,
            },
        };
        Ok(Options {
            config: self.config,
            serial,
            warnings: self.warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().map(OsString::from))? {
            Action::Run(o) => Ok(*o),
            a => panic!("expected a run, got {a:?}"),
        }
    }

    fn with_kernel(args: &[&str]) -> Result<Options, String> {
        let mut v = vec!["-kernel", "vmlinux"];
        v.extend_from_slice(args);
        run(&v)
    }

    fn err(args: &[&str]) -> String {
        match parse(args.iter().map(OsString::from)) {
            Err(e) => e,
            Ok(a) => panic!("{args:?}: expected an error, got {a:?}"),
        }
    }

    const M: u64 = 1 << 20;

    #[test]
    fn sizes_in_qemu_syntax() {
        assert_eq!(size("512", M), Some(512 * M));
        assert_eq!(size("512M", M), Some(512 * M));
        assert_eq!(size("512m", M), Some(512 * M));
        assert_eq!(size("2G", M), Some(2 << 30));
        assert_eq!(size("1.5G", M), Some(1536 * M));
        assert_eq!(size("0.25g", M), Some(256 * M));
        assert_eq!(size("1T", M), Some(1 << 40));
        assert_eq!(size("64K", M), Some(64 << 10));
        assert_eq!(size("4096B", M), Some(4096));
        assert_eq!(size("4096", 1), Some(4096));
        assert_eq!(size("0x10", M), Some(16 * M));
        assert_eq!(size("1.5", M), Some(M + M / 2));
        for bad in [
            "",
            "abc",
            "G",
            "1.5.2G",
            "-1G",
            "1Q",
            "12 M",
            "1.G",
            ".5G",
            "1.5B",
            "99999999999999999999",
        ] {
            assert_eq!(size(bad, M), None, "{bad:?}");
        }
        // Overflow is refused, not wrapped.
        assert_eq!(size("17179869184G", M), None);
    }

    #[test]
    fn numbers_take_hex_octal_and_decimal() {
        assert_eq!(number("0x4000000"), Some(0x400_0000));
        assert_eq!(number("4096"), Some(4096));
        assert_eq!(number("010"), Some(8));
        assert_eq!(number("0"), Some(0));
        assert_eq!(number("0x"), None);
        assert_eq!(number("12a"), None);
    }

    #[test]
    fn keyval_handles_implied_keys_flags_and_escaped_commas() {
        let kv = |s| keyval(s, "type");
        assert_eq!(
            kv("pseries,cap-htm=off,usb"),
            [
                ("type".into(), "pseries".into()),
                ("cap-htm".into(), "off".into()),
                ("usb".into(), "on".into())
            ]
        );
        assert_eq!(kv("a=x,,y"), [("a".to_string(), "x,y".to_string())]);
        assert_eq!(
            kv("pseries,"),
            [("type".to_string(), "pseries".to_string())]
        );
    }

    #[test]
    fn defaults_are_qemus() {
        let o = with_kernel(&[]).unwrap();
        assert_eq!(o.config.ram_size, 512 * M);
        assert_eq!(o.config.smp, 1);
        assert_eq!(o.config.kernel_addr, 0);
        assert!(!o.config.no_reboot);
        assert_eq!(o.serial, Serial::Stdio { mux: true });
        assert!(o.warnings.is_empty());
        assert_eq!(o.config.tb_size, ppc::exec::DEFAULT_BUDGET as u64);
    }

    #[test]
    fn icount_and_single_thread() {
        let o = with_kernel(&["-icount", "shift=3"]).unwrap();
        assert_eq!(o.config.icount, Some(3));
        assert!(o.config.round_robin());
        let o = with_kernel(&["-icount", "0,sleep=off"]).unwrap();
        assert_eq!(o.config.icount, Some(0));
        let o = with_kernel(&["-accel", "tcg,thread=single"]).unwrap();
        assert!(o.config.single_thread && o.config.icount.is_none());
        assert!(!with_kernel(&[]).unwrap().config.round_robin());
        assert!(err(&["-icount", "shift=auto"]).contains("shift=auto is not supported"));
        assert!(err(&["-icount", "shift=11"]).contains("0 to 10"));
        assert!(err(&["-icount", "shift=2,sleep=on"]).contains("sleep=on"));
        assert!(err(&["-icount", "2,rr=record"]).contains("rr="));
    }

    #[test]
    fn rtc_base_and_clock() {
        let o = with_kernel(&["-rtc", "base=2024-02-29T12:34:56,clock=vm"]).unwrap();
        assert_eq!(o.config.rtc_base, Some(1_709_210_096));
        assert!(o.config.rtc_vm);
        let o = with_kernel(&["-rtc", "base=1970-01-02"]).unwrap();
        assert_eq!(o.config.rtc_base, Some(86_400));
        assert!(
            !with_kernel(&["-rtc", "base=utc,clock=host"])
                .unwrap()
                .config
                .rtc_vm
        );
        assert!(err(&["-rtc", "base=localtime"]).contains("base=localtime"));
        assert!(err(&["-rtc", "base=2024-13-01"]).contains("base=2024-13-01"));
        assert!(err(&["-rtc", "clock=wall"]).contains("clock"));
    }

    #[test]
    fn tb_size_sets_the_code_cache_budget() {
        let o = with_kernel(&["-accel", "tcg,tb-size=128"]).unwrap();
        assert_eq!(o.config.tb_size, 128 * M);
        let o = with_kernel(&["-accel", "tcg,thread=single,tb-size=0"]).unwrap();
        assert_eq!(o.config.tb_size, ppc::exec::DEFAULT_BUDGET as u64);
        assert!(err(&["-accel", "tcg,tb-size=lots"]).contains("'lots' for tb-size"));
        assert!(err(&["-accel", "tcg,tb-size=99999999"]).contains("tb-size"));
    }

    #[test]
    fn the_demo_command_line() {
        let o = run(&[
            "-M",
            "pseries",
            "-m",
            "1G",
            "-kernel",
            "vmlinux",
            "-initrd",
            "initrd.gz",
            "-append",
            "console=hvc0",
            "-nographic",
        ])
        .unwrap();
        assert_eq!(o.config.ram_size, 1 << 30);
        assert_eq!(o.config.kernel, Some(PathBuf::from("vmlinux")));
        assert_eq!(o.config.initrd, Some(PathBuf::from("initrd.gz")));
        assert_eq!(o.config.append, "console=hvc0");
        assert_eq!(o.serial, Serial::Stdio { mux: true });
    }

    #[test]
    fn double_dash_and_values_that_look_like_options() {
        let o = run(&[
            "--kernel",
            "k",
            "--append",
            "-v quiet",
            "-m",
            "size=1.5G",
            "--no-reboot",
        ])
        .unwrap();
        assert_eq!(o.config.append, "-v quiet");
        assert_eq!(o.config.ram_size, 1536 * M);
        assert!(o.config.no_reboot);
    }

    #[test]
    fn machine_properties() {
        let o = with_kernel(&[
            "-machine",
            "type=pseries,accel=kvm:tcg,kernel-addr=0x4000000,ic-mode=xics,cap-htm=off,cap-vsx=on,cap-dfp=off,\
             cap-cfpc=broken,cap-sbbc=workaround,cap-ibs=fixed-ccd,cap-hpt-max-page-size=64k,cap-nested-hv=off,\
             cap-large-decr=off,cap-ccf-assist=on,cap-fwnmi=on,cap-rpt-invalidate=off,cap-ail-mode-3=on,\
             x-vof=on,max-cpu-compat=power9,resize-hpt=disabled,vsmt=8,usb=off",
            "-M",
            "pseries,kernel-addr=4096",
        ])
        .unwrap();
        assert!(!o.config.resize_hpt);
        // Repeated -M options merge, later values winning (QEMU's behaviour).
        assert_eq!(o.config.kernel_addr, 4096);
        // HPT resizing is on by default; enabled and default keep it, the last value wins.
        assert!(with_kernel(&[]).unwrap().config.resize_hpt);
        for (v, on) in [("enabled", true), ("default", true), ("disabled", false)] {
            let o = with_kernel(&["-M", &format!("pseries,resize-hpt={v}")]).unwrap();
            assert_eq!(o.config.resize_hpt, on, "{v}");
        }
        let o = with_kernel(&["-M", "resize-hpt=disabled", "-M", "resize-hpt=enabled"]).unwrap();
        assert!(o.config.resize_hpt);
        let o = with_kernel(&["-M", "kernel-addr=0x4000000"]).unwrap();
        assert_eq!(o.config.kernel_addr, 0x400_0000);
    }

    #[test]
    fn machine_errors_name_the_property() {
        assert_eq!(
            err(&["-M", "pseries,foo=1"]),
            "-M: unknown machine property 'foo'"
        );
        assert!(err(&["-M", "pseries,cap-htm=on"]).contains("cap-htm=on"));
        assert!(err(&["-M", "pseries,cap-htm=maybe"]).contains("cap-htm=maybe"));
        assert!(err(&["-M", "pseries,ic-mode=xive"]).contains("not supported yet"));
        assert!(err(&["-M", "pseries,ic-mode=dual"]).contains("not supported yet"));
        assert!(err(&["-M", "pseries,accel=kvm"]).contains("KVM"));
        assert!(err(&["-M", "pseries,vsmt=3"]).contains("vsmt=3"));
        assert!(err(&["-M", "pseries,resize-hpt=required"]).contains("resize-hpt=required"));
        assert!(err(&["-M", "pseries,resize-hpt=maybe"]).contains("resize-hpt=maybe"));
        assert!(err(&["-M", "pseries,kernel-addr=zz"]).contains("kernel-addr=zz"));
        assert!(
            err(&["-M", "pseries,cap-hpt-max-page-size=3000"]).contains("cap-hpt-max-page-size")
        );
        assert!(err(&["-M", "q35"]).contains("q35"));
        assert!(err(&["-machine", "pseries,max-cpu-compat=power4"])
            .starts_with("-machine: max-cpu-compat=power4"));
        assert!(err(&["-M", "pseries,x-vof=off", "-kernel", "k"]).contains("-bios"));
    }

    #[test]
    fn help_listings() {
        for (args, list) in [
            (&["-M", "help"][..], MACHINES),
            (&["-machine", "pseries,help"], MACHINES),
            (&["-cpu", "help"], CPUS),
            (&["-accel", "help"], ACCELS),
            (&["-device", "help"], DEVICES),
        ] {
            match parse(args.iter().map(OsString::from)) {
                Ok(Action::List(l)) => assert_eq!(l, list),
                r => panic!("{args:?}: {r:?}"),
            }
        }
        assert!(matches!(parse(["-h".into()]), Ok(Action::Help)));
        assert!(matches!(parse(["--help".into()]), Ok(Action::Help)));
        assert!(matches!(parse(["-version".into()]), Ok(Action::Version)));
        assert!(matches!(parse(["--version".into()]), Ok(Action::Version)));
    }

    #[test]
    fn cpu_models() {
        for ok in [
            "POWER9",
            "power9",
            "POWER9_v2.0",
            "power9_v2.2",
            "max",
            "POWER8",
            "POWER10",
            "POWER9,compat=power8",
            "POWER10,compat=power9",
        ] {
            with_kernel(&["-cpu", ok]).unwrap();
        }
        assert!(err(&["-cpu", "host"]).starts_with("-cpu host: needs KVM"));
        assert_eq!(
            err(&["-cpu", "POWER8,compat=power9"]),
            "-cpu POWER8,compat=power9: compat mode newer than the CPU"
        );
        assert_eq!(
            err(&["-cpu", "POWER9,compat=power4"]),
            "-cpu POWER9,compat=power4: invalid compat mode 'power4'"
        );
        assert_eq!(
            err(&["-cpu", "POWER11"]),
            "-cpu POWER11: unsupported CPU model"
        );
        assert_eq!(
            err(&["-cpu", "cortex-a57"]),
            "-cpu cortex-a57: unknown CPU model"
        );
        assert!(err(&["-cpu", "POWER9,foo=on"]).contains("POWER9,foo=on"));
    }

    #[test]
    fn memory_errors() {
        assert_eq!(err(&["-m", "abc"]), "-m 'abc': invalid size");
        assert_eq!(err(&["-m", "0"]), "-m '0': invalid size");
        assert!(err(&["-m", "100M"]).contains("multiple of 256M"));
        assert!(err(&["-m", "1G,maxmem=4G"]).contains("maxmem"));
        assert!(err(&["-m", "1G,foo=4G"]).contains("'foo'"));
    }

    #[test]
    fn smp() {
        let n = |a: &str| with_kernel(&["-smp", a]).map(|o| o.config.smp);
        let topo = |a: &str| {
            with_kernel(&["-smp", a]).map(|o| (o.config.smp, o.config.cores, o.config.threads))
        };
        assert_eq!(topo("8,sockets=1,cores=2,threads=4"), Ok((8, 2, 4)));
        assert_eq!(topo("16,threads=8"), Ok((16, 2, 8)));
        assert_eq!(topo("4"), Ok((4, 4, 1)));
        assert_eq!(n("1"), Ok(1));
        assert_eq!(n("4"), Ok(4));
        assert_eq!(n("cpus=1,maxcpus=1,sockets=1,cores=1,threads=1"), Ok(1));
        assert_eq!(n("cores=2"), Ok(2));
        assert_eq!(n("sockets=2,cores=4"), Ok(8));
        assert_eq!(n("8,sockets=2"), Ok(8));
        assert_eq!(n("64"), Ok(64));
        assert_eq!(n("4,dies=1"), Ok(4));
        assert_eq!(
            err(&["-smp", "0"]),
            "-smp 0: invalid CPU topology: cpus must be greater than zero"
        );
        assert_eq!(
            err(&["-smp", "4,sockets=3"]),
            "-smp 4,sockets=3: invalid CPU topology: sockets (3) * cores (1) * threads (1) != maxcpus (4)"
        );
        assert!(err(&["-smp", "4,maxcpus=2"]).contains("maxcpus (2) < cpus (4)"));
        assert!(err(&["-smp", "2000"]).contains("at most 1024"));
        assert!(err(&["-smp", "6,threads=3"]).contains("1, 2, 4 or 8 threads"));
        assert!(err(&["-smp", "16,threads=16"]).contains("1, 2, 4 or 8 threads"));
        let o = with_kernel(&["-smp", "2,maxcpus=4"]).unwrap();
        assert_eq!(o.config.smp, 2);
        assert!(o.warnings[0].contains("CPU hotplug is not supported yet"));
        assert!(err(&["-smp", "4,dies=2"]).contains("dies > 1"));
        assert!(err(&["-smp", "x"]).contains("'x'"));
        assert!(err(&["-smp", "1,foo=2"]).contains("'foo'"));
    }

    #[test]
    fn consoles() {
        let s = |a: &[&str]| with_kernel(a).unwrap().serial;
        assert_eq!(s(&["-nographic"]), Serial::Stdio { mux: true });
        assert_eq!(s(&["-serial", "stdio"]), Serial::Stdio { mux: false });
        assert_eq!(s(&["-serial", "mon:stdio"]), Serial::Stdio { mux: true });
        assert_eq!(s(&["-serial", "null"]), Serial::Null);
        assert_eq!(s(&["-serial", "none"]), Serial::Null);
        assert_eq!(
            s(&["-nographic", "-monitor", "none"]),
            Serial::Stdio { mux: false }
        );
        assert_eq!(s(&["-nodefaults"]), Serial::Null);
        assert_eq!(
            s(&["-nodefaults", "-serial", "mon:stdio"]),
            Serial::Stdio { mux: true }
        );
        assert!(err(&["-serial", "pty"]).starts_with("-serial pty:"));
        assert!(err(&["-serial", "stdio", "-serial", "null"]).contains("only one"));
        assert!(err(&["-monitor", "stdio"]).starts_with("-monitor stdio:"));
    }

    #[test]
    fn accepted_no_ops_and_warnings() {
        let o = with_kernel(&[
            "-display",
            "none",
            "-vga",
            "none",
            "-nic",
            "none",
            "-net",
            "none",
            "-device",
            "spapr-vty,id=vty0",
            "-device",
            "spapr-nvram,reg=0x71000001",
            "-name",
            "guest",
            "-accel",
            "tcg,thread=multi",
            "-no-user-config",
            "-d",
            "in_asm",
            "-D",
            "log.txt",
        ])
        .unwrap();
        assert_eq!(o.warnings.len(), 2);
        assert!(o.warnings[0].starts_with("-d in_asm"));
    }

    #[test]
    fn option_errors_name_the_option() {
        assert_eq!(
            err(&["-accel", "kvm"]),
            "-accel kvm: KVM is not available (lpar emulates the CPU in software; use tcg)"
        );
        assert!(err(&["-enable-kvm"]).starts_with("-enable-kvm:"));
        assert!(err(&["-accel", "tcg,foo=1"]).contains("'foo'"));
        assert_eq!(
            err(&["-device", "e1000"]),
            "-device e1000: unknown or unsupported device"
        );
        assert_eq!(
            err(&["-device", "spapr-vty,chardev=c0"]),
            "-device spapr-vty,chardev=c0: chardev=c0: no -chardev with that id"
        );
        assert_eq!(
            err(&["-device", "spapr-rng,rng=r9"]),
            "-device spapr-rng,rng=r9: rng=r9: no -object with that id"
        );
        assert!(err(&["-device", "spapr-rng,use-kvm=on"]).contains("KVM"));
        assert!(err(&["-device", "spapr-vty,reg=0x1"]).contains("reg="));
        assert_eq!(
            err(&["-drive", "if=virtio"]),
            "-drive if=virtio: missing file="
        );
        assert_eq!(
            err(&["-netdev", "user,id=n", "-device", "spapr-vlan,netdev=m"]),
            "-device spapr-vlan,netdev=m: netdev=m: no -netdev with that id"
        );
        assert_eq!(
            err(&["-netdev", "user,id=n", "-netdev", "tap,id=n"]),
            "-netdev id=n: duplicate netdev id"
        );
        assert!(err(&["-nic", "user,mac=52:54"]).contains("invalid MAC"));
        assert_eq!(err(&["-S"]), "-S: not supported yet");
        assert_eq!(
            err(&["-frobnicate"]),
            "-frobnicate: unknown option (see lpar --help)"
        );
        assert_eq!(
            err(&["--frobnicate"]),
            "-frobnicate: unknown option (see lpar --help)"
        );
        assert_eq!(err(&["-kernel"]), "-kernel: requires an argument");
        assert!(err(&["-kernel", "k", "disk.img"]).contains("'disk.img'"));
        assert!(err(&["-display", "gtk"]).starts_with("-display gtk:"));
        assert!(err(&["-vga", "std"]).starts_with("-vga std:"));
        assert!(err(&["-nic", "user,model=e1000"]).starts_with("-nic user,model=e1000:"));
        assert!(err(&["--nographic=yes"]).contains("nographic"));
    }

    #[test]
    fn cdrom_is_a_scsi_cd_on_a_spapr_vscsi() {
        let o = with_kernel(&["-cdrom", "install,1.iso"]).unwrap();
        match &o.config.devices[..] {
            [spapr::wiring::DeviceConfig::SpaprVscsi { disks, .. }] => {
                assert_eq!(disks.len(), 1);
                assert!(disks[0].cdrom && disks[0].drive.read_only);
                // A file name, not an option list: the comma is part of it.
                assert_eq!(disks[0].drive.path, PathBuf::from("install,1.iso"));
            }
            d => panic!("{d:?}"),
        }
        assert_eq!(err(&["-cdrom"]), "-cdrom: requires an argument");
        assert!(DEVICES.contains("\"scsi-hd\"") && HELP.contains("-cdrom FILE"));
    }

    #[test]
    fn boot_source_rules() {
        assert!(err(&[]).starts_with("nothing to boot"));
        assert!(err(&["-m", "1G"]).starts_with("nothing to boot"));
        assert_eq!(
            err(&["-bios", "b", "-initrd", "i"]),
            "-initrd: only allowed with -kernel"
        );
        assert_eq!(
            err(&["-bios", "b", "-append", "x"]),
            "-append: only allowed with -kernel"
        );
        let o = run(&["-bios", "slof.bin", "-M", "pseries,x-vof=off"]).unwrap();
        assert_eq!(o.config.bios, Some(PathBuf::from("slof.bin")));
    }
}
