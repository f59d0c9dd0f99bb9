//! `Session::make_callable`: a request validated, pruned and planned once, then called many
//! times with only the feed values checked. TF1: `sess.make_callable(fetches, feed_list)`.

use crate::plan::Plan;
use crate::session::{Fetch, Session};
use crate::trace::{RunMetadata, RunOptions};
use ferroflow_core::{Error, Result, Tensor, TensorSpec, Value};
use std::sync::{Arc, Mutex};

/// What a fed tensor must be, captured when the callable is made.
struct FeedSpec {
    name: String,
    op: String,
    spec: TensorSpec,
}

/// A compiled `(feeds, fetches)` request of one session; see [`Session::make_callable`].
pub struct Callable<'s> {
    session: &'s Session,
    fetches: Vec<Fetch>,
    /// The feed tensors sorted (the plan's order) and, for each, its index in the caller's list.
    sorted: Vec<(Tensor, usize)>,
    specs: Vec<FeedSpec>,
    /// The plan and the graph version it was built at (rebuilt if the graph changes).
    plan: Mutex<(u64, Arc<Plan>)>,
}

impl Session {
    /// Validates, prunes and plans `fetches` given `feeds` once, returning a [`Callable`]
    /// whose [`call`](Callable::call) takes one value per feed, in the order of `feeds`, and
    /// returns one value per fetch (op fetches included), as [`Session::run`] does. TF1:
    /// `sess.make_callable(fetches, feed_list)`.
    ///
    /// ```
    /// use ferroflow_core::{DType, Graph, shape};
    /// use ferroflow_ops::{math, state};
    /// use ferroflow_session::Session;
    /// # fn main() -> ferroflow_core::Result<()> {
    /// let g = Graph::new();
    /// let s = g.root();
    /// let x = state::placeholder(&s.with_name("x"), DType::F32, shape![None])?;
    /// let y = math::mul(&s, x, 3.0f32)?;
    /// let sess = Session::new(&g);
    /// let f = sess.make_callable(&[x], [y])?;
    /// assert_eq!(f.call(&[vec![1.0f32, 2.0].into()])?[0].to_vec::<f32>()?, vec![3.0, 6.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Session::run`] for the request itself (handles of another graph, a tensor fed
    /// twice); feed values are checked by each call.
    pub fn make_callable<I, F>(&self, feeds: &[Tensor], fetches: I) -> Result<Callable<'_>>
    where
        I: IntoIterator<Item = F>,
        F: Into<Fetch>,
    {
        let fetches: Vec<Fetch> = fetches.into_iter().map(Into::into).collect();
        self.check_request(&fetches, feeds.iter())?;
        let mut sorted: Vec<(Tensor, usize)> = feeds.iter().copied().zip(0..).collect();
        sorted.sort_by_key(|(t, _)| *t);
        if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::FedTwice { name: w[0].0.name(self.graph())? });
        }
        let specs = self.graph().read(|st| {
            feeds
                .iter()
                .map(|t| {
                    let node = st.node(t.op())?;
                    let name = format!("{}:{}", node.name, t.index());
                    Ok(FeedSpec { name, op: node.op.type_name().to_string(), spec: st.spec(*t)?.clone() })
                })
                .collect::<Result<Vec<_>>>()
        })?;
        let keys: Vec<Tensor> = sorted.iter().map(|(t, _)| *t).collect();
        let plan = self.plan_at_version(fetches.clone(), keys)?;
        Ok(Callable { session: self, fetches, sorted, specs, plan: Mutex::new(plan) })
    }
}

impl std::fmt::Debug for Callable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let feeds: Vec<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
        f.debug_struct("Callable").field("feeds", &feeds).field("fetches", &self.fetches).finish()
    }
}

impl Callable<'_> {
    /// Runs the request with `values[i]` fed to the `i`-th feed tensor.
    ///
    /// # Errors
    /// A wrong number of values, a value of the wrong dtype or shape (naming the tensor), and
    /// every run-time error of [`Session::run`].
    pub fn call(&self, values: &[Value]) -> Result<Vec<Value>> {
        self.call_with_options(values, RunOptions::default()).map(|(v, _)| v)
    }

    /// [`Callable::call`] with run options (e.g. a full trace); see [`Session::run_with_options`].
    ///
    /// # Errors
    /// As [`Callable::call`].
    pub fn call_with_options(&self, values: &[Value], options: RunOptions) -> Result<(Vec<Value>, RunMetadata)> {
        if values.len() != self.specs.len() {
            return Err(Error::invalid(format!(
                "this callable takes {} feed value(s) (for {}), got {}",
                self.specs.len(),
                self.specs.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", "),
                values.len()
            )));
        }
        for (f, v) in self.specs.iter().zip(values) {
            if f.spec.dtype != v.dtype() || !f.spec.shape.accepts(v.shape()) {
                return Err(Error::FeedMismatch {
                    name: f.name.clone(),
                    op: f.op.clone(),
                    expected_dtype: f.spec.dtype,
                    expected_shape: f.spec.shape.clone(),
                    got_dtype: v.dtype(),
                    got_shape: v.shape().to_vec(),
                });
            }
        }
        let plan = self.current_plan()?;
        let sorted_values: Vec<&Value> = self.sorted.iter().filter_map(|(_, i)| values.get(*i)).collect();
        self.session.execute_with(&plan, &sorted_values, options)
    }

    /// The plan, rebuilt when the graph changed since it was built.
    fn current_plan(&self) -> Result<Arc<Plan>> {
        let version = self.session.graph().read(|st| st.version());
        let mut p = self.plan.lock().unwrap_or_else(|e| e.into_inner());
        if p.0 != version {
            let keys: Vec<Tensor> = self.sorted.iter().map(|(t, _)| *t).collect();
            *p = self.session.plan_at_version(self.fetches.clone(), keys)?;
        }
        Ok(p.1.clone())
    }
}
