//! `linux.seccomp`: the whole runtime-spec section, compiled to BPF by the
//! runtime before anything is created and loaded by the container's process
//! as late as the spec allows.
//!
//! The parts:
//! - [`check_json`] and [`compile`] run in the parent: a bad action, arch,
//!   operator or flag fails `create`/`exec` with one line naming the field,
//!   before a state dir, cgroup or process exists. Syscall names libseccomp
//!   does not know are skipped, as runc does (they are usually newer than
//!   the library).
//! - `create` keeps the compiled program in the state dir
//!   ([`Program::save`]) and `exec` reuses it ([`for_exec`]), so an exec
//!   does not pay libseccomp's compile again.
//! - [`Program::load_at`] runs in the child on an already compiled program
//!   (the fork copies it), so the child never calls into libseccomp.
//! - [`forward`] runs in the parent when a filter uses SCMP_ACT_NOTIFY: it
//!   takes the listener fd out of the child with pidfd_getfd and sends it,
//!   with the container process state, to the agent at `listenerPath`.
//!
//! When the filter is loaded (runc's rule for the privilege question; later
//! than runc where no_new_privs allows it), and why:
//! - Installing a filter needs no_new_privs or CAP_SYS_ADMIN. Without
//!   `noNewPrivileges` the process must still hold CAP_SYS_ADMIN, so the
//!   filter goes in just before capabilities are dropped and the user is
//!   switched ([`Point::BeforeCapsDrop`]); those later syscalls (setresuid,
//!   capset, prctl, chdir...) are filtered, which is what profiles such as
//!   Docker's expect.
//! - With `noNewPrivileges` it goes in right before execve
//!   ([`Point::BeforeExec`]): the runtime's own syscalls (fifo wait, signal
//!   reset) stay unfiltered. If there are startContainer hooks it goes in
//!   just before them instead: they run programs from the container's
//!   rootfs, which must not escape the filter.
//! - Except when a rule uses SCMP_ACT_NOTIFY: the fd must reach the agent
//!   while `create` is still running (state "creating", as runc sends it),
//!   and the parent listens only until the init reports Ready, so such a
//!   filter is loaded at [`Point::BeforeReady`], after capabilities/user/
//!   no_new_privs are set.
//!
//! After loading, a notify filter's process makes exactly one write(2) (the
//! fd's number to the parent) before the parent holds the fd, which is why
//! SCMP_ACT_NOTIFY is refused for `write` and as the default action (runc's
//! rule too: either would hang the container before the agent has the fd).

mod cache;
mod compile;
mod features;
mod json;
mod kernel;
mod load;
mod notify;
#[cfg(test)]
mod tests;

pub use cache::for_exec;
pub use compile::{compile, Program};
pub use features::features;
pub use json::check_json;
pub use load::Point;
pub use notify::forward;
