//! The MPI backend (rsmpi, `MPI_COMM_WORLD`), behind the `mpi` cargo feature, and the MPI side
//! of `init()`: `MPI_Init_thread(MULTIPLE)`, local rank/size, and the panic hook that calls
//! `MPI_Abort` so a panicking rank ends the job instead of leaving the others in a collective.

use crate::collective::{check_root, Buf, BufMut, Collective};
use ferroflow_core::{Error, Result};
use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::{Count, Threading};
use std::sync::Mutex;

/// MPI counts are C ints: big buffers go in chunks of this many elements.
const CHUNK: usize = 1 << 30;

/// Collectives over `MPI_COMM_WORLD`. Made by [`init`](crate::init) with the `mpi` feature.
///
/// Calls are serialized by a mutex (MPI requires the same collective order on every rank;
/// two threads of one rank calling collectives concurrently would interleave unpredictably).
/// After the `Hvd` handle that owns the MPI universe is dropped (`MPI_Finalize`), every call
/// is an error, never undefined behaviour.
#[derive(Debug)]
pub struct Mpi {
    rank: usize,
    size: usize,
    lock: Mutex<()>,
}

fn world() -> Result<SimpleCommunicator> {
    if mpi::environment::is_finalized() {
        return Err(Error::InvalidArgument(
            "MPI is finalized (the Hvd handle returned by init() was dropped); keep it alive while sessions run collective ops".into(),
        ));
    }
    Ok(SimpleCommunicator::world())
}

fn count(n: usize, what: &str) -> Result<Count> {
    Count::try_from(n)
        .map_err(|_| Error::InvalidArgument(format!("{what}: {n} elements exceed MPI's count limit ({})", Count::MAX)))
}

impl Mpi {
    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }
}

macro_rules! each_buf_mut {
    ($b:expr, $x:ident => $body:expr) => {
        match $b {
            BufMut::F32($x) => $body,
            BufMut::F64($x) => $body,
            BufMut::I32($x) => $body,
            BufMut::I64($x) => $body,
        }
    };
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn allreduce_sum(&self, buf: BufMut<'_>) -> Result<()> {
        let w = world()?;
        let _g = self.guard();
        each_buf_mut!(buf, b => {
            for chunk in b.chunks_mut(CHUNK) {
                let send = chunk.to_vec();
                w.all_reduce_into(&send[..], chunk, SystemOperation::sum());
            }
        });
        Ok(())
    }
    fn allgather(&self, send: Buf<'_>, recv: BufMut<'_>, counts: &[usize]) -> Result<()> {
        if counts.len() != self.size {
            return Err(Error::InvalidArgument(format!("allgather: {} counts for {} ranks", counts.len(), self.size)));
        }
        let total: usize = counts.iter().sum();
        if total != recv.len() {
            return Err(Error::InvalidArgument(format!(
                "allgather: counts {counts:?} sum to {total}, the receive buffer holds {}",
                recv.len()
            )));
        }
        let mut displs = Vec::with_capacity(counts.len());
        let mut at = 0usize;
        for &c in counts {
            displs.push(count(at, "allgather")?);
            at += c;
        }
        count(at, "allgather")?;
        let cs: Vec<Count> = counts.iter().map(|&c| count(c, "allgather")).collect::<Result<_>>()?;
        let mine = counts.get(self.rank).copied().unwrap_or(0);
        let w = world()?;
        let _g = self.guard();
        macro_rules! go {
            ($s:expr, $r:expr) => {{
                if $s.len() != mine {
                    return Err(Error::InvalidArgument(format!(
                        "allgather: rank {} sends {} elements, counts say {mine}",
                        self.rank,
                        $s.len()
                    )));
                }
                let mut part = PartitionMut::new($r, &cs[..], &displs[..]);
                w.all_gather_varcount_into($s, &mut part);
            }};
        }
        match (send, recv) {
            (Buf::F32(s), BufMut::F32(r)) => go!(s, r),
            (Buf::F64(s), BufMut::F64(r)) => go!(s, r),
            (Buf::I32(s), BufMut::I32(r)) => go!(s, r),
            (Buf::I64(s), BufMut::I64(r)) => go!(s, r),
            (s, r) => {
                return Err(Error::InvalidArgument(format!(
                    "allgather: send {s:?} and receive buffer ({} elements) differ in dtype",
                    r.len()
                )))
            }
        }
        Ok(())
    }
    fn broadcast(&self, buf: BufMut<'_>, root: usize) -> Result<()> {
        check_root(root, self.size)?;
        let w = world()?;
        let root = w.process_at_rank(count(root, "broadcast")?);
        let _g = self.guard();
        each_buf_mut!(buf, b => {
            for chunk in b.chunks_mut(CHUNK) {
                root.broadcast_into(chunk);
            }
        });
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        let w = world()?;
        let _g = self.guard();
        w.barrier();
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        abort_world(code)
    }
}

/// `MPI_Abort(MPI_COMM_WORLD, code)` when MPI is live, else `exit(code)`.
pub(crate) fn abort_world(code: i32) -> ! {
    if mpi::environment::is_initialized() && !mpi::environment::is_finalized() {
        SimpleCommunicator::world().abort(code)
    }
    std::process::exit(code)
}

/// What `init()` gets from MPI: the universe (finalized on drop) and the topology.
pub(crate) struct MpiInit {
    pub universe: Universe,
    pub collective: Mpi,
    pub local_rank: usize,
    pub local_size: usize,
}

/// `MPI_Init_thread(MPI_THREAD_MULTIPLE)`, then the panic hook.
pub(crate) fn init_mpi() -> Result<MpiInit> {
    let Some((universe, _threading)) = mpi::initialize_with_threading(Threading::Multiple) else {
        return Err(Error::InvalidArgument(
            "init(): MPI is already initialized in this process; call init() once and share its Hvd handle".into(),
        ));
    };
    let w = universe.world();
    let (rank, size) = (usize::try_from(w.rank()).unwrap_or(0), usize::try_from(w.size()).unwrap_or(1));
    let node = w.split_shared(w.rank());
    let (local_rank, local_size) =
        (usize::try_from(node.rank()).unwrap_or(0), usize::try_from(node.size()).unwrap_or(1));
    install_panic_hook();
    Ok(MpiInit { universe, collective: Mpi { rank, size, lock: Mutex::new(()) }, local_rank, local_size })
}

/// A panic anywhere in this process prints its message (the previous hook) and then aborts
/// the whole MPI job: without it the other ranks wait in their next collective forever.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        if mpi::environment::is_initialized() && !mpi::environment::is_finalized() {
            eprintln!("ferroflow-distributed: a panic on this rank; aborting the MPI job (MPI_Abort)");
            SimpleCommunicator::world().abort(101);
        }
    }));
}
