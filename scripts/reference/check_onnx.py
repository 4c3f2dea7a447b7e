"""onnx.checker.check_model(full_check=True) on a model file; prints one JSON line."""
import json
import sys

import onnx

model = onnx.load(sys.argv[1])
onnx.checker.check_model(model, full_check=True)
print(json.dumps({'ok': True, 'ir_version': model.ir_version, 'opset': model.opset_import[0].version,
                  'ops': sorted({n.op_type for n in model.graph.node})}))
