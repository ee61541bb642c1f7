//! `tpm`: TPM backends (QEMU's `-tpmdev`). For now the one QEMU calls `emulator`: a software TPM,
//! swtpm, run as
//! `swtpm socket --tpm2 --tpmstate dir=DIR --ctrl type=unixio,path=SOCK` and reached through its
//! control socket (QEMU's `-chardev socket,id=CHR,path=SOCK -tpmdev emulator,id=ID,chardev=CHR`).
//! The TPM commands travel over a socket pair whose other end is handed to swtpm on the control
//! channel.
//!
//! The crate moves whole TPM command and response blobs and knows nothing of the device (PAPR
//! vTPM, TIS, ...) that carries them for the guest.

mod ctrl;
mod emulator;
mod sys;

pub use emulator::Emulator;

/// Which TPM specification the backend implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TpmVersion {
    V1_2,
    V2_0,
}
