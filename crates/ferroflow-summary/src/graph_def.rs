//! `GraphDef` export of a ferroflow graph, for TensorBoard's graph tab.

use crate::proto::{
    attr_value, data_type, tensor_shape_proto, AttrValue, GraphDef, NodeDef, TensorShapeProto, VersionDef,
};
use ferroflow_core::{DType, Graph, Shape};
use prost::Message;
use std::collections::HashMap;

/// TF's `DataType` number for a ferroflow dtype.
pub fn tf_data_type(d: DType) -> i32 {
    match d {
        DType::F32 => data_type::FLOAT,
        DType::F64 => data_type::DOUBLE,
        DType::I32 => data_type::INT32,
        DType::I64 => data_type::INT64,
        DType::Bool => data_type::BOOL,
        DType::String => data_type::STRING,
    }
}

/// A static shape as a `TensorShapeProto` (unknown dims are -1, unknown rank is flagged).
pub fn shape_proto(s: &Shape) -> TensorShapeProto {
    match s.dims() {
        None => TensorShapeProto { dim: Vec::new(), unknown_rank: true },
        Some(dims) => TensorShapeProto {
            dim: dims
                .iter()
                .map(|d| tensor_shape_proto::Dim { size: d.and_then(|x| i64::try_from(x).ok()).unwrap_or(-1) })
                .collect(),
            unknown_rank: false,
        },
    }
}

/// A concrete shape as a `TensorShapeProto`.
pub(crate) fn shape_proto_known(dims: &[usize]) -> TensorShapeProto {
    TensorShapeProto {
        dim: dims.iter().map(|&d| tensor_shape_proto::Dim { size: i64::try_from(d).unwrap_or(-1) }).collect(),
        unknown_rank: false,
    }
}

fn attr(v: attr_value::Value) -> AttrValue {
    AttrValue { value: Some(v) }
}

/// The graph as TF's `GraphDef`: one `NodeDef` per node, in creation order (inputs first).
///
/// Each node has its full scoped name (TensorBoard draws the `/`-separated scopes as boxes),
/// its op type, its inputs (`"name"` for output 0, `"name:1"` for output 1, `"^name"` for a
/// control input) and these attributes: `T` (the first input's dtype) for nodes with inputs;
/// `dtype` and `shape` (output 0) for source nodes (placeholders, constants, variables);
/// `_output_shapes` (the static shape of every output, which TensorBoard shows on edges).
/// Other op attributes are not exported. Cost: one pass over the nodes, under the graph's
/// read lock.
pub fn graph_def(graph: &Graph) -> GraphDef {
    let node = graph.read(|st| {
        let name_of = |i: usize| st.node_at(i).map(|n| n.name.clone()).unwrap_or_default();
        (0..st.len())
            .filter_map(|i| st.node_at(i))
            .map(|n| {
                let mut input: Vec<String> = n
                    .inputs
                    .iter()
                    .map(|t| {
                        let base = name_of(t.op().node_index());
                        if t.index() == 0 {
                            base
                        } else {
                            format!("{base}:{}", t.index())
                        }
                    })
                    .collect();
                input.extend(n.control_inputs.iter().map(|o| format!("^{}", name_of(o.node_index()))));
                let mut attrs = HashMap::new();
                if let Some(first) = n.inputs.first() {
                    if let Ok(spec) = st.spec(*first) {
                        attrs.insert("T".to_string(), attr(attr_value::Value::Type(tf_data_type(spec.dtype))));
                    }
                } else if let Some(out) = n.outputs.first() {
                    attrs.insert("dtype".to_string(), attr(attr_value::Value::Type(tf_data_type(out.dtype))));
                    attrs.insert("shape".to_string(), attr(attr_value::Value::Shape(shape_proto(&out.shape))));
                }
                if !n.outputs.is_empty() {
                    let shapes = n.outputs.iter().map(|o| shape_proto(&o.shape)).collect();
                    attrs.insert(
                        "_output_shapes".to_string(),
                        attr(attr_value::Value::List(attr_value::ListValue { shape: shapes })),
                    );
                }
                NodeDef {
                    name: n.name.clone(),
                    op: n.op.type_name().to_string(),
                    input,
                    device: String::new(),
                    attr: attrs,
                }
            })
            .collect()
    });
    // TF 1.15 writes GraphDef producer version 134.
    GraphDef { node, versions: Some(VersionDef { producer: 134 }) }
}

/// [`graph_def`] serialized as protobuf bytes (what `Event.graph_def` holds).
pub fn graph_def_bytes(graph: &Graph) -> Vec<u8> {
    graph_def(graph).encode_to_vec()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use ferroflow_core::shape;
    use ferroflow_ops::{control, math, placeholder};

    #[test]
    fn names_inputs_and_attrs() {
        let g = Graph::new();
        let s = g.root();
        let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 3]).unwrap();
        let y = s.name_scope("layer", |s| math::add(s, x, x)).unwrap();
        let z = s.control_dependencies(&[y.op()], |s| control::identity(s, x)).unwrap();
        let _ = z;
        let gd = graph_def(&g);
        assert_eq!(gd.node.len(), g.num_nodes());
        let by: HashMap<&str, &NodeDef> = gd.node.iter().map(|n| (n.name.as_str(), n)).collect();
        let px = by["x"];
        assert_eq!(px.op, "Placeholder");
        assert_eq!(px.attr["dtype"].value, Some(attr_value::Value::Type(data_type::FLOAT)));
        let Some(attr_value::Value::Shape(sh)) = &px.attr["shape"].value else { panic!("no shape") };
        assert_eq!(sh.dim.iter().map(|d| d.size).collect::<Vec<_>>(), vec![-1, 3]);
        let add = gd.node.iter().find(|n| n.name.starts_with("layer/")).unwrap();
        assert_eq!(add.input, vec!["x", "x"]);
        assert_eq!(add.attr["T"].value, Some(attr_value::Value::Type(data_type::FLOAT)));
        let id = gd.node.iter().find(|n| n.op == "Identity").unwrap();
        assert_eq!(id.input, vec!["x".to_string(), format!("^{}", add.name)]);
        // Round trip through the wire format.
        let back = GraphDef::decode(graph_def_bytes(&g).as_slice()).unwrap();
        assert_eq!(back, gd);
    }

    #[test]
    fn output_index_in_input_names() {
        let g = Graph::new();
        let s = g.root();
        let x = placeholder(&s.with_name("x"), DType::F32, shape![2, 1, 1, 1]).unwrap();
        let (_, mean, var) = s
            .name_scope("bn", |s| {
                let one = ferroflow_ops::constant(s, vec![1.0f32])?;
                let zero = ferroflow_ops::constant(s, vec![0.0f32])?;
                ferroflow_ops::nn::fused_batch_norm(s, x, one, zero, None, None, 0.0, true)
            })
            .unwrap();
        let m = control::identity(&s.with_name("m"), mean).unwrap();
        let v = control::identity(&s.with_name("v"), var).unwrap();
        let gd = graph_def(&g);
        let by: HashMap<&str, &NodeDef> = gd.node.iter().map(|n| (n.name.as_str(), n)).collect();
        let fused = mean.op().name(&s).unwrap();
        assert!(fused.starts_with("bn/"), "{fused}");
        assert_eq!(by[m.op().name(&s).unwrap().as_str()].input, vec![format!("{fused}:1")]);
        assert_eq!(by[v.op().name(&s).unwrap().as_str()].input, vec![format!("{fused}:2")]);
        let Some(attr_value::Value::List(l)) = &by[fused.as_str()].attr["_output_shapes"].value else { panic!() };
        assert_eq!(l.shape.len(), mean.op().num_outputs(&s).unwrap());
    }
}
