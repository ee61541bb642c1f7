//! Terminal ioctls. The powerpc `struct termios` and most of its flag values differ from the
//! host's (arch/powerpc/include/uapi/asm/termbits.h), so TCGETS/TCSETS* translate field by field.

use crate::guest::{host_errno, Guest, Out, SysResult};

/// powerpc ioctl numbers (_IOR/_IOW with the powerpc direction bits).
pub const TCGETS: u32 = 0x402c_7413;
pub const TCSETS: u32 = 0x802c_7414;
pub const TCSETSW: u32 = 0x802c_7415;
pub const TCSETSF: u32 = 0x802c_7416;
pub const TIOCGWINSZ: u32 = 0x4008_7468;
pub const TIOCSWINSZ: u32 = 0x8008_7467;
pub const TIOCGPGRP: u32 = 0x4004_7477;
pub const FIONREAD: u32 = 0x4004_667f;
pub const FIONBIO: u32 = 0x8004_667e;
pub const FIOCLEX: u32 = 0x2000_6601;
pub const FIONCLEX: u32 = 0x2000_6602;

/// sizeof(struct termios) on powerpc: 4 flag words, c_cc[19], c_line, c_ispeed, c_ospeed.
const TERMIOS_SIZE: usize = 44;

type Map = &'static [(libc::tcflag_t, u32)];

const IFLAG: Map = &[
    (libc::IGNBRK, 0x1),
    (libc::BRKINT, 0x2),
    (libc::IGNPAR, 0x4),
    (libc::PARMRK, 0x8),
    (libc::INPCK, 0x10),
    (libc::ISTRIP, 0x20),
    (libc::INLCR, 0x40),
    (libc::IGNCR, 0x80),
    (libc::ICRNL, 0x100),
    (libc::IXON, 0x200),
    (libc::IXOFF, 0x400),
    (libc::IXANY, 0x800),
    (libc::IUCLC, 0x1000),
    (libc::IMAXBEL, 0x2000),
    (libc::IUTF8, 0x4000),
];

/// Single-bit output flags. The delay fields (NLDLY, CRDLY, ...) are dropped except TABDLY.
const OFLAG: Map = &[
    (libc::OPOST, 0x1),
    (libc::ONLCR, 0x2),
    (libc::OLCUC, 0x4),
    (libc::OCRNL, 0x8),
    (libc::ONOCR, 0x10),
    (libc::ONLRET, 0x20),
    (libc::OFILL, 0x40),
    (libc::OFDEL, 0x80),
];
const PPC_TABDLY: u32 = 0xc00;

const CFLAG: Map = &[
    (libc::CSTOPB, 0x400),
    (libc::CREAD, 0x800),
    (libc::PARENB, 0x1000),
    (libc::PARODD, 0x2000),
    (libc::HUPCL, 0x4000),
    (libc::CLOCAL, 0x8000),
    (libc::CRTSCTS, 0x8000_0000),
];
const PPC_CSIZE_SHIFT: u32 = 8;
const PPC_CBAUD: u32 = 0xff;

const LFLAG: Map = &[
    (libc::ISIG, 0x80),
    (libc::ICANON, 0x100),
    (libc::XCASE, 0x4000),
    (libc::ECHO, 0x8),
    (libc::ECHOE, 0x2),
    (libc::ECHOK, 0x4),
    (libc::ECHONL, 0x10),
    (libc::NOFLSH, 0x8000_0000),
    (libc::TOSTOP, 0x40_0000),
    (libc::ECHOCTL, 0x40),
    (libc::ECHOPRT, 0x20),
    (libc::ECHOKE, 0x1),
    (libc::FLUSHO, 0x80_0000),
    (libc::PENDIN, 0x2000_0000),
    (libc::IEXTEN, 0x400),
    (libc::EXTPROC, 0x1000_0000),
];

/// (host c_cc index, powerpc c_cc index).
const CC: [(usize, usize); 17] = [
    (libc::VINTR, 0),
    (libc::VQUIT, 1),
    (libc::VERASE, 2),
    (libc::VKILL, 3),
    (libc::VEOF, 4),
    (libc::VMIN, 5),
    (libc::VEOL, 6),
    (libc::VTIME, 7),
    (libc::VEOL2, 8),
    (libc::VSWTC, 9),
    (libc::VWERASE, 10),
    (libc::VREPRINT, 11),
    (libc::VSUSP, 12),
    (libc::VSTART, 13),
    (libc::VSTOP, 14),
    (libc::VLNEXT, 15),
    (libc::VDISCARD, 16),
];

/// Baud rates in the order of the powerpc CBAUD codes 0..=0x1e.
const RATES: [u32; 31] = [
    0, 50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600,
    115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000,
    3000000, 3500000, 4000000,
];

fn to_ppc(h: libc::tcflag_t, m: Map) -> u32 {
    m.iter()
        .filter(|(hb, _)| h & hb != 0)
        .fold(0, |a, (_, p)| a | p)
}

fn to_host(p: u32, m: Map) -> libc::tcflag_t {
    m.iter()
        .filter(|(_, pb)| p & pb != 0)
        .fold(0, |a, (h, _)| a | h)
}

/// Host speed code (Bxxx) to the powerpc code: B0..B38400 share the numbers 0..15; the host's
/// CBAUDEX codes 1..15 continue from 0x10.
fn baud_to_ppc(h: libc::tcflag_t) -> u32 {
    let h = h & libc::CBAUD;
    if h & libc::CBAUDEX != 0 {
        (0xf + (h & 0xf)).min(0x1e)
    } else {
        h & 0xf
    }
}

fn baud_to_host(p: u32) -> libc::tcflag_t {
    match p & PPC_CBAUD {
        c @ 0..=0xf => c,
        c @ 0x10..=0x1e => libc::CBAUDEX | (c - 0xf),
        _ => libc::B38400,
    }
}

fn tabdly_to_ppc(h: libc::tcflag_t) -> u32 {
    // TAB0..TAB3 are the field values 0..3 on both.
    let n = (h & libc::TABDLY) / libc::TAB1;
    n << 10
}

pub fn termios_to_ppc(t: &libc::termios, le: bool) -> [u8; TERMIOS_SIZE] {
    let mut b = [0u8; TERMIOS_SIZE];
    let baud = baud_to_ppc(t.c_cflag);
    let csize = (t.c_cflag & libc::CSIZE) / libc::CS6;
    let cflag = to_ppc(t.c_cflag, CFLAG) | csize << PPC_CSIZE_SHIFT | baud | baud << 16;
    for (h, p) in CC {
        if let (Some(&v), Some(d)) = (t.c_cc.get(h), b.get_mut(16 + p)) {
            *d = v;
        }
    }
    b[35] = t.c_line;
    let mut o = Out { buf: &mut b, le };
    o.u32(0, to_ppc(t.c_iflag, IFLAG));
    o.u32(4, to_ppc(t.c_oflag, OFLAG) | tabdly_to_ppc(t.c_oflag));
    o.u32(8, cflag);
    o.u32(12, to_ppc(t.c_lflag, LFLAG));
    let rate = RATES.get(baud as usize).copied().unwrap_or(0);
    o.u32(36, rate);
    o.u32(40, rate);
    b
}

/// Applies a powerpc termios to a host termios (fields the host has no equivalent for are kept).
pub fn termios_from_ppc(b: &[u8; TERMIOS_SIZE], le: bool, t: &mut libc::termios) {
    let w = |o: usize| {
        let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    t.c_iflag = to_host(w(0), IFLAG);
    t.c_oflag = to_host(w(4), OFLAG) | (((w(4) & PPC_TABDLY) >> 10) * libc::TAB1);
    let c = w(8);
    t.c_cflag = to_host(c, CFLAG) | (((c >> PPC_CSIZE_SHIFT) & 3) * libc::CS6) | baud_to_host(c);
    t.c_lflag = to_host(w(12), LFLAG);
    for (h, p) in CC {
        if let (Some(d), Some(&v)) = (t.c_cc.get_mut(h), b.get(16 + p)) {
            *d = v;
        }
    }
    t.c_line = b[35];
    let speed = baud_to_host(c);
    // SAFETY: cfset*speed only write the termios we own.
    unsafe {
        libc::cfsetispeed(t, speed);
        libc::cfsetospeed(t, speed);
    }
}

/// Terminal and file ioctls; `Err(ENOTTY)`-style errors come from the host for non-terminals.
/// Returns None for requests not handled here.
pub fn ioctl(g: &Guest, fd: i32, req: u32, arg: u64) -> Option<SysResult> {
    // SAFETY (all calls below): the host ioctl/tc* calls write only into local structures.
    Some(match req {
        TCGETS => {
            let mut t: libc::termios = unsafe { std::mem::zeroed() };
            if unsafe { libc::tcgetattr(fd, &mut t) } < 0 {
                return Some(Err(host_errno()));
            }
            g.write(arg, &termios_to_ppc(&t, g.le)).map(|_| 0)
        }
        TCSETS | TCSETSW | TCSETSF => {
            let mut b = [0u8; TERMIOS_SIZE];
            if let Err(e) = g.read(arg, &mut b) {
                return Some(Err(e));
            }
            let mut t: libc::termios = unsafe { std::mem::zeroed() };
            if unsafe { libc::tcgetattr(fd, &mut t) } < 0 {
                return Some(Err(host_errno()));
            }
            termios_from_ppc(&b, g.le, &mut t);
            let how = match req {
                TCSETS => libc::TCSANOW,
                TCSETSW => libc::TCSADRAIN,
                _ => libc::TCSAFLUSH,
            };
            if unsafe { libc::tcsetattr(fd, how, &t) } < 0 {
                Err(host_errno())
            } else {
                Ok(0)
            }
        }
        TIOCGWINSZ => {
            let mut w: libc::winsize = unsafe { std::mem::zeroed() };
            if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut w) } < 0 {
                return Some(Err(host_errno()));
            }
            let mut b = [0u8; 8];
            let mut o = Out {
                buf: &mut b,
                le: g.le,
            };
            o.u16(0, w.ws_row);
            o.u16(2, w.ws_col);
            o.u16(4, w.ws_xpixel);
            o.u16(6, w.ws_ypixel);
            g.write(arg, &b).map(|_| 0)
        }
        TIOCGPGRP | FIONREAD => {
            let mut v: libc::c_int = 0;
            let host = if req == FIONREAD {
                libc::FIONREAD
            } else {
                libc::TIOCGPGRP
            };
            if unsafe { libc::ioctl(fd, host, &mut v) } < 0 {
                return Some(Err(host_errno()));
            }
            g.write_u32(arg, v as u32).map(|_| 0)
        }
        FIONBIO => {
            let v = match g.read_u32(arg) {
                Ok(v) => v as libc::c_int,
                Err(e) => return Some(Err(e)),
            };
            if unsafe { libc::ioctl(fd, libc::FIONBIO, &v) } < 0 {
                Err(host_errno())
            } else {
                Ok(0)
            }
        }
        FIOCLEX | FIONCLEX => {
            let host = if req == FIOCLEX {
                libc::FIOCLEX
            } else {
                libc::FIONCLEX
            };
            if unsafe { libc::ioctl(fd, host) } < 0 {
                Err(host_errno())
            } else {
                Ok(0)
            }
        }
        TIOCSWINSZ => {
            let mut b = [0u8; 8];
            if let Err(e) = g.read(arg, &mut b) {
                return Some(Err(e));
            }
            let h = |o: usize| {
                if g.le {
                    u16::from_le_bytes([b[o], b[o + 1]])
                } else {
                    u16::from_be_bytes([b[o], b[o + 1]])
                }
            };
            let w = libc::winsize {
                ws_row: h(0),
                ws_col: h(2),
                ws_xpixel: h(4),
                ws_ypixel: h(6),
            };
            if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &w) } < 0 {
                Err(host_errno())
            } else {
                Ok(0)
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> libc::termios {
        // SAFETY: plain data.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        t.c_iflag = libc::ICRNL | libc::IXON | libc::IUTF8;
        t.c_oflag = libc::OPOST | libc::ONLCR | libc::TAB3;
        t.c_cflag = libc::CS8 | libc::CREAD | libc::B38400;
        t.c_lflag = libc::ISIG | libc::ICANON | libc::ECHO | libc::ECHOE | libc::IEXTEN;
        t.c_cc[libc::VMIN] = 1;
        t.c_cc[libc::VINTR] = 3;
        t.c_cc[libc::VEOF] = 4;
        t
    }

    #[test]
    fn termios_uses_powerpc_values() {
        let b = termios_to_ppc(&host(), false);
        let w = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        // Values from powerpc termbits.h.
        assert_eq!(w(0), 0x100 | 0x200 | 0x4000);
        assert_eq!(w(4), 0x1 | 0x2 | 0xc00);
        assert_eq!(w(8), 0x300 | 0x800 | 0xf | 0xf << 16);
        assert_eq!(w(12), 0x80 | 0x100 | 0x8 | 0x2 | 0x400);
        assert_eq!((b[16], b[16 + 4], b[16 + 5]), (3, 4, 1));
        assert_eq!((w(36), w(40)), (38400, 38400));
    }

    #[test]
    fn termios_round_trip() {
        let t0 = host();
        let b = termios_to_ppc(&t0, true);
        // SAFETY: plain data.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        termios_from_ppc(&b, true, &mut t);
        assert_eq!(t.c_iflag, t0.c_iflag);
        assert_eq!(t.c_oflag, t0.c_oflag);
        assert_eq!(t.c_cflag, t0.c_cflag);
        assert_eq!(t.c_lflag, t0.c_lflag);
        assert_eq!(t.c_cc[libc::VMIN], 1);
        assert_eq!(baud_to_host(0x11), libc::B115200);
        assert_eq!(baud_to_ppc(libc::B115200), 0x11);
        assert_eq!(baud_to_ppc(libc::B4000000), 0x1e);
    }
}
