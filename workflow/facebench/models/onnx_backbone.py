"""A published ONNX model as a backbone: ``backbone: onnx``, run by onnxruntime.

The ONNX file's bytes are the module's one buffer (``onnx_model``, uint8), so the project's model file
(models/checkpoint.py: a weights-only torch file) carries the ONNX model self-contained and ``load_model`` rebuilds
it like any other backbone. The onnxruntime session is made from that buffer on the first forward, not at build:
building is also what ``load_model`` does before the buffer is filled in.

``model_bytes`` (the file's length) and ``layout`` (models.<name>.input.layout) have no defaults on purpose: the import
fills them from the file and the input, and a keyword without a default is one config cannot give
(facebench.names.BACKBONES lists those with one; tests/test_names.py checks the two agree).

``inspect_onnx`` checks a file against its model's config before the import writes anything, each problem in one
message naming the config key to change.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facebench.models.registry import register

LAYOUTS = ("nchw", "nhwc")
FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


class OnnxModelError(ValueError):
    pass


def _session(data: bytes, *, threads: int | None = None, cuda: bool = False):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or 0)  # 0: onnxruntime's own choice (one per core)
    opts.inter_op_num_threads = 1  # a face backbone is one chain of layers: nothing to run side by side
    opts.log_severity_level = 3  # errors only: its graph-optimiser warnings are noise in a job's log
    providers = ["CPUExecutionProvider"]
    if cuda and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(data, sess_options=opts, providers=providers)


def _dims(shape) -> list:
    """ORT's shape with every unknown dimension (a symbolic name, or None) as None."""
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


@register("onnx")
class OnnxBackbone(nn.Module):
    """N x 3 x h x w float faces (models.inputs.to_model_input) -> N x D float32 features, on the faces' device."""

    def __init__(self, model_bytes: int, *, layout: str, output: str | None = None, input_size=(112, 112)):
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"onnx backbone: layout must be one of {LAYOUTS}, got {layout!r}")
        self.register_buffer("onnx_model", torch.zeros(int(model_bytes), dtype=torch.uint8))
        self.layout, self.output, self.input_size = layout, output, [int(v) for v in input_size]
        self.threads: int | None = None  # onnxruntime intra-op threads, read when the session is made (embed sets it)
        self._session = self._key = None

    def _load_from_state_dict(self, *args, **kwargs):
        self._session = self._key = None  # a session made before belongs to the bytes being replaced
        super()._load_from_state_dict(*args, **kwargs)

    def session(self, cuda: bool = False):
        """The onnxruntime session, made on first use and again when ``threads`` or the device kind changed."""
        key = (self.threads, cuda)
        if self._session is None or self._key != key:
            self._session = _session(self.onnx_model.cpu().numpy().tobytes(), threads=self.threads, cuda=cuda)
            self._key = key
        return self._session

    @property
    def embedding_size(self) -> int | None:
        """D when the model's output says it (static), else None (known after a forward)."""
        return output_size(self._output(self._session or self.session()).shape)  # any session knows the shape

    def _output(self, sess):
        outs = sess.get_outputs()
        return next((o for o in outs if o.name == self.output), None) if self.output else outs[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sess = self.session(cuda=x.is_cuda)
        inp, out = sess.get_inputs()[0], self._output(sess)
        if self.layout == "nhwc":
            x = x.permute(0, 2, 3, 1)
        data = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=FLOAT_TYPES.get(inp.type, np.float32))
        n, batch = len(data), _dims(inp.shape)[0]
        if batch is None:
            chunks = [data]
        else:  # a graph exported at a fixed batch: fed exactly that many, the last chunk padded with zeros
            chunks = [data[lo:lo + batch] for lo in range(0, n, batch)]
            if n % batch:
                pad = np.zeros((batch - n % batch, *data.shape[1:]), data.dtype)
                chunks[-1] = np.concatenate([chunks[-1], pad])
        results = [sess.run([out.name], {inp.name: c})[0] for c in chunks]
        y = np.concatenate(results)[:n].reshape(n, -1).astype(np.float32, copy=False)
        return torch.from_numpy(y).to(x.device)


def output_size(shape) -> int | None:
    """The feature length of an N x ... output whose other dimensions are all static, else None."""
    rest = _dims(shape)[1:]
    return int(np.prod(rest)) if rest and all(d is not None for d in rest) else None


def onnx_module(data: bytes, **backbone_args) -> OnnxBackbone:
    """The backbone holding ``data`` (an ONNX file's bytes); ``backbone_args``: layout, output, input_size."""
    model = OnnxBackbone(len(data), **backbone_args)
    model.onnx_model.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    return model.eval()


def inspect_onnx(data: bytes, model_spec: dict, where: str, origin: str = "the file") -> dict:
    """Check an ONNX file against its model's config (``model_spec``, at config key ``where`` = models.<name>);
    returns what the import records (inputs, outputs, producer, embedding_size). Raises OnnxModelError naming
    the key: the file (``weights``), its input (``input``: size and layout), its output (``backbone_args.output``)."""
    from facebench.templates import input_size

    try:
        sess = _session(data, threads=1)
    except Exception as err:  # onnxruntime raises its own classes (InvalidProtobuf, Fail, ...), all parse failures
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        raise OnnxModelError(f"config key {where}.weights: {origin} is not an ONNX model onnxruntime can load "
                             f"({first})") from err
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    if len(inputs) != 1:
        raise OnnxModelError(f"config key {where}.weights: {origin} takes {len(inputs)} inputs "
                             f"({[i.name for i in inputs]}); a face backbone takes one, the faces")
    inp, spec_in = inputs[0], model_spec["input"]
    layout = spec_in.get("layout", "nchw")
    h, w = input_size(spec_in)
    dims = _dims(inp.shape)
    expect = [None, 3, h, w] if layout == "nchw" else [None, h, w, 3]
    shown = "x".join("N" if i == 0 else str(d) for i, d in enumerate(expect))
    # where the configured shape comes from, so the message says what to change
    size_from = (f"{where}.input.size" if spec_in.get("size") else
                 f"the crop of template {spec_in['template']!r}; {where}.input.size sets another")
    said = f"the configured input is {layout} {shown} (layout: {where}.input.layout, nchw or nhwc; size: {size_from})"
    has = f"{origin}'s input {inp.name!r} has shape {list(inp.shape)}"
    if len(dims) != 4:
        raise OnnxModelError(f"config key {where}.input: {has}, rank {len(dims)}, not a batch of images (rank 4); "
                             f"{said}")
    channel_axis = 1 if layout == "nchw" else 3
    if dims[channel_axis] not in (None, 3):
        raise OnnxModelError(f"config key {where}.input: {has}: {dims[channel_axis]} channel(s) at axis "
                             f"{channel_axis}, not 3; {said}")
    if any(d is not None and d != e for d, e in zip(dims[1:], expect[1:])):
        raise OnnxModelError(f"config key {where}.input: {has}, not {shown}; {said}")
    if inp.type not in FLOAT_TYPES:
        raise OnnxModelError(f"config key {where}.weights: {origin}'s input {inp.name!r} is {inp.type}, not a float "
                             "tensor")
    wanted = model_spec.get("backbone_args", {}).get("output")
    listing = ", ".join(f"{o.name!r} {o.type} {list(o.shape)}" for o in outputs)
    out = next((o for o in outputs if o.name == wanted), None) if wanted else outputs[0]
    if out is None:
        raise OnnxModelError(f"config key {where}.backbone_args.output: {origin} has no output {wanted!r}; its "
                             f"outputs: {listing}")
    if out.type not in FLOAT_TYPES:
        raise OnnxModelError(f"config key {where}.backbone_args.output: {origin}'s output {out.name!r} is {out.type}, "
                             f"not features (a float tensor); its outputs: {listing}"
                             + ("" if wanted else f" (without {where}.backbone_args.output: the first)"))
    meta = sess.get_modelmeta()  # the file's producer; onnxruntime does not expose the opset
    return {"onnx_input": {"name": inp.name, "shape": list(inp.shape), "type": inp.type},
            "onnx_output": {"name": out.name, "shape": list(out.shape), "type": out.type},
            "onnx_outputs": [o.name for o in outputs], "onnx_producer": meta.producer_name or None,
            "onnx_batch": dims[0], "embedding_size": output_size(out.shape)}
