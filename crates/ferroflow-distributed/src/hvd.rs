//! `Hvd`: the handle `init()` returns (rank, size, local rank/size, the collective), `run()`
//! that turns an error on any rank into a job abort, and rank-prefixed logging.

use crate::collective::{CollectiveRef, HasCollective, Local};
use ferroflow_core::Result;
use std::fmt;
use std::process::ExitCode;
use std::sync::Arc;

/// The process's place in the job and its collective backend. Horovod: the `hvd` module after
/// `hvd.init()`.
///
/// With the `mpi` feature it owns the MPI universe: dropping it calls `MPI_Finalize` (after
/// which collective ops return errors). Without the feature it is the single-process
/// [`Local`] backend. There is no hidden global: ops and optimizers get the collective from
/// this handle ([`Hvd::collective`]).
pub struct Hvd {
    collective: CollectiveRef,
    local_rank: usize,
    local_size: usize,
    #[cfg(feature = "mpi")]
    _universe: Option<mpi::environment::Universe>,
}

impl fmt::Debug for Hvd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hvd")
            .field("rank", &self.rank())
            .field("size", &self.size())
            .field("local_rank", &self.local_rank)
            .finish()
    }
}

/// Starts the job. With the `mpi` feature: `MPI_Init_thread(MPI_THREAD_MULTIPLE)` on
/// `MPI_COMM_WORLD` and a panic hook that calls `MPI_Abort` (a panicking rank ends the job);
/// a binary started without `mpirun` is an MPI singleton of size 1. Without the feature: the
/// [`Local`] backend (size 1). Horovod: `hvd.init()`.
///
/// # Errors
/// With MPI: when MPI is already initialized in this process (call `init` once).
pub fn init() -> Result<Hvd> {
    #[cfg(feature = "mpi")]
    {
        let m = crate::mpi_backend::init_mpi()?;
        Ok(Hvd {
            collective: Arc::new(m.collective),
            local_rank: m.local_rank,
            local_size: m.local_size,
            _universe: Some(m.universe),
        })
    }
    #[cfg(not(feature = "mpi"))]
    {
        Ok(Hvd::local())
    }
}

impl Hvd {
    /// The single-process handle (rank 0 of 1), whatever the features.
    pub fn local() -> Hvd {
        Hvd::with_collective(Arc::new(Local))
    }

    /// A handle over any collective backend (local rank = rank, local size = size).
    pub fn with_collective(collective: CollectiveRef) -> Hvd {
        let (local_rank, local_size) = (collective.rank(), collective.size());
        Hvd {
            collective,
            local_rank,
            local_size,
            #[cfg(feature = "mpi")]
            _universe: None,
        }
    }

    /// This process's rank. Horovod: `hvd.rank()`.
    pub fn rank(&self) -> usize {
        self.collective.rank()
    }
    /// Number of processes. Horovod: `hvd.size()`.
    pub fn size(&self) -> usize {
        self.collective.size()
    }
    /// Rank among the processes on this host. Horovod: `hvd.local_rank()`.
    pub fn local_rank(&self) -> usize {
        self.local_rank
    }
    /// Number of processes on this host. Horovod: `hvd.local_size()`.
    pub fn local_size(&self) -> usize {
        self.local_size
    }
    /// True on rank 0, the rank that saves checkpoints and prints reports.
    pub fn is_chief(&self) -> bool {
        self.rank() == 0
    }
    /// The collective backend, for graph ops and [`DistributedOptimizer`](crate::DistributedOptimizer).
    pub fn collective(&self) -> CollectiveRef {
        self.collective.clone()
    }
    /// `"[rank/size] "`: the prefix of this rank's log lines.
    pub fn prefix(&self) -> String {
        format!("[{}/{}] ", self.rank(), self.size())
    }
    /// Prints `msg` to stdout with the rank prefix (`[1/2] step 10 loss 0.3`).
    pub fn log(&self, msg: impl fmt::Display) {
        println!("{}{msg}", self.prefix());
    }
    /// Prints `msg` to stderr with the rank prefix.
    pub fn elog(&self, msg: impl fmt::Display) {
        eprintln!("{}{msg}", self.prefix());
    }
    /// Waits for every rank.
    pub fn barrier(&self) -> Result<()> {
        self.collective.barrier()
    }
    /// Ends the whole job with `code` (MPI: `MPI_Abort`; every rank exits).
    pub fn abort(&self, code: i32) -> ! {
        self.collective.abort(code)
    }
}

impl HasCollective for Hvd {
    fn collective(&self) -> CollectiveRef {
        self.collective.clone()
    }
}

/// Runs a rank's `main` body: `init()`, then `body(&hvd)`. When the body returns an error on
/// any rank, the error is printed with the rank prefix and the **whole job** is aborted
/// (`MPI_Abort`, exit code 1) — a plain return would leave the other ranks waiting in a
/// collective (or in `MPI_Finalize`) forever. On success MPI is finalized and
/// `ExitCode::SUCCESS` returned. With one process an error simply exits with code 1.
///
/// ```no_run
/// use std::process::ExitCode;
/// fn main() -> ExitCode {
///     ferroflow_distributed::run(|hvd| -> ferroflow_core::Result<()> {
///         hvd.log("hello");
///         Ok(())
///     })
/// }
/// ```
pub fn run<E: fmt::Display>(body: impl FnOnce(&Hvd) -> std::result::Result<(), E>) -> ExitCode {
    let hvd = match init() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("ferroflow-distributed: init failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    match body(&hvd) {
        Ok(()) => {
            drop(hvd);
            ExitCode::SUCCESS
        }
        Err(e) => {
            hvd.elog(format!("error: {e:#}"));
            if hvd.size() > 1 {
                hvd.elog("aborting the job so the other ranks do not wait forever");
                hvd.abort(1)
            }
            drop(hvd);
            ExitCode::FAILURE
        }
    }
}
