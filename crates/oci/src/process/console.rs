//! Terminals: the init opens a pty inside the container's devpts and hands the
//! master to whoever listens on the console socket (SCM_RIGHTS), as runc does.

use crate::error::{Context, Error, Result};
use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

/// In the container, after pivot_root: opens a pty, makes its slave the
/// controlling terminal and stdio, and sends the master over `socket`.
pub fn setup(socket: RawFd, size: Option<(u16, u16)>) -> Result<PathBuf> {
    open_pty(socket, size, true)
}

/// As [`setup`], for `exec`: the container's /dev/console stays as it is.
pub fn setup_without_console_mount(socket: RawFd, size: Option<(u16, u16)>) -> Result<PathBuf> {
    open_pty(socket, size, false)
}

fn open_pty(socket: RawFd, size: Option<(u16, u16)>, mount_console: bool) -> Result<PathBuf> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .ctx(|| "opening /dev/ptmx in the container".into())?;
    grantpt(&master).ctx(|| "grantpt".into())?;
    unlockpt(&master).ctx(|| "unlockpt".into())?;
    let slave_path = PathBuf::from(ptsname_r(&master).ctx(|| "ptsname".into())?);
    if let Some((rows, cols)) = size {
        resize(master.as_raw_fd(), rows, cols)?;
    }
    let slave = nix::fcntl::open(
        &slave_path,
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("opening {}", slave_path.display()))?;
    if mount_console {
        crate::rootfs::mount_console(&slave_path)?;
    }
    send_fd(socket, master.as_raw_fd(), "/dev/ptmx")?;
    drop(master);
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard descriptors; `slave` stays open.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(std::io::Error::last_os_error()).ctx(|| "dup2 of the pty slave".into());
        }
    }
    // SAFETY: TIOCSCTTY takes an int argument; 0 means do not steal.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(std::io::Error::last_os_error())
            .ctx(|| "making the pty the controlling terminal".into());
    }
    Ok(slave_path)
}

pub fn resize(fd: RawFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct we own.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(std::io::Error::last_os_error()).ctx(|| "setting the terminal size".into());
    }
    Ok(())
}

/// The terminal size of `fd`, if it is a terminal.
pub fn size_of(fd: RawFd) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes into the winsize struct we own.
    (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0).then_some((ws.ws_row, ws.ws_col))
}

pub fn send_fd(socket: RawFd, fd: RawFd, name: &str) -> Result<()> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(socket, &iov, &cmsg, MsgFlags::empty(), None)
        .ctx(|| "sending the pty master over the console socket".into())?;
    Ok(())
}

pub fn recv_fd(socket: RawFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket,
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ctx(|| "receiving the pty master".into())?;
    for c in msg.cmsgs().ctx(|| "reading control messages".into())? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Error::Other(
        "console socket: no file descriptor received".into(),
    ))
}
