//! ferroflow-distributed: data-parallel training the Horovod way. A small [`Collective`]
//! trait (rank, size, allreduce, allgather, broadcast, barrier) with two backends — [`Local`]
//! (one process, no system dependency, the default) and `Mpi` (rsmpi over `MPI_COMM_WORLD`,
//! cargo feature `mpi`) — the collective graph ops ([`allreduce`], [`allgather`],
//! [`broadcast`]) with their gradients, [`DistributedOptimizer`] (gradients averaged in fused
//! buckets), [`broadcast_global_variables`], cross-replica batch norm ([`sync_moments`],
//! [`sync_batch_normalization`]), and [`run`], which turns an error on one rank into an abort
//! of the whole job. See `docs/distributed.md`.
//!
//! There is no global state: [`init`] returns an [`Hvd`] handle (with MPI it owns the MPI
//! universe) and ops and optimizers get the collective from it.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![warn(missing_docs)]

pub mod collective;
mod hvd;
#[cfg(feature = "mpi")]
mod mpi_backend;
pub mod ops;
pub mod optimizer;
pub mod sync_bn;

pub use collective::{Buf, BufMut, Collective, CollectiveRef, HasCollective, Local, ReduceOp};
pub use hvd::{init, run, Hvd};
#[cfg(feature = "mpi")]
pub use mpi_backend::Mpi;
pub use ops::{allgather, allreduce, broadcast, grouped_allreduce, grouped_broadcast};
pub use optimizer::{
    broadcast_global_variables, broadcast_variables, fusion_buckets, DistributedOptimizer, DEFAULT_FUSION_THRESHOLD,
};
pub use sync_bn::{sync_batch_normalization, sync_moments};
