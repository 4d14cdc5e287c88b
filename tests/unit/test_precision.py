"""Choosing the inference path from what the CPU reports: bf16 only where native, overridable."""

from __future__ import annotations

import pytest
import torch

from rnxstudio.ml import fast, precision
from rnxstudio.ml.precision import CpuInfo, resolve

AMX = CpuInfo("Xeon (AMX)", frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}), "AVX512", True, None)
AVX512_NO_BF16 = CpuInfo("Xeon (Skylake)", frozenset({"avx2", "avx512f"}), "AVX512", False, None)
AVX2 = CpuInfo("EPYC", frozenset({"avx2", "fma"}), "AVX2", False, None)
# oneDNN says yes but the kernel lists no bf16 flag (a hypervisor hiding it): not native
AVX2_LYING = CpuInfo("VM", frozenset({"avx2"}), "AVX2", True, None)
AMX_CAPPED = CpuInfo("Xeon (AMX)", AMX.flags, "AVX2", True, "AVX2")


@pytest.mark.parametrize("info, native", [(AMX, True), (AVX512_NO_BF16, False), (AVX2, False),
                                          (AVX2_LYING, False), (AMX_CAPPED, False)])
def test_native_bf16_needs_flags_and_onednn_and_no_cap(info, native):
    assert info.native_bf16 is native
    assert ("no native bf16" in info.summary()) is not native
    if info.isa_limit:
        assert "emulation" in info.summary()


def test_auto_is_bf16_only_where_native():
    for have_ov in (False, True):
        amx = resolve("cpu", info=AMX, have_openvino=have_ov)
        avx2 = resolve("cpu", info=AVX2, have_openvino=have_ov)
        assert avx2.precision == "fp32" and "bf16" not in avx2.mode and "fp16" not in avx2.mode
        assert "no native bf16" in avx2.reason
        bf16_ok = (have_ov and precision.OPENVINO_WINS["bf16"]) or precision.TORCH_BF16_PASSES_GUARD
        assert amx.precision == ("bf16" if bf16_ok else "fp32")
        assert ("native bf16" in amx.reason) and ("bf16" in amx.mode) is bf16_ok
        for c in (amx, avx2):  # OpenVINO only where installed and measured faster (OPENVINO_WINS)
            assert c.backend == ("openvino" if have_ov and precision.OPENVINO_WINS[c.precision] else "torch")
    assert resolve("cpu", info=AVX2, have_openvino=False).mode == "fold+channels_last+sparse_roi"
    assert resolve("cpu", "bf16", "torch", info=AMX).mode == "fold+channels_last+bf16+fp32_stem+sparse_roi"


def test_overrides_and_their_warnings():
    forced = resolve("cpu", "bf16", info=AVX2, have_openvino=False)
    assert forced.precision == "bf16" and any("SLOWER" in w for w in forced.warnings)
    assert resolve("cpu", "fp32", info=AMX, have_openvino=False).precision == "fp32"
    assert resolve("cpu", "auto", "torch", info=AMX, have_openvino=True).backend == "torch"
    with pytest.raises(ValueError, match="not installed"):
        resolve("cpu", "auto", "openvino", info=AMX, have_openvino=False)
    with pytest.raises(ValueError, match="precision"):
        resolve("cpu", "int4", info=AMX)
    with pytest.raises(ValueError, match="CPU only"):
        resolve("cuda", backend="openvino")
    cuda = resolve("cuda", info=AVX2)
    assert cuda.precision == "fp16" and "fp16" in cuda.mode
    assert cuda.as_record()["precision"] == "fp16"


def test_every_resolved_mode_is_a_valid_plan():
    for info in (AMX, AVX2):
        for prec in ("auto", "fp32", "bf16"):
            for ov in (False, True):
                choice = resolve("cpu", prec, info=info, have_openvino=ov)
                plan = fast.plan_for("cpu", choice.mode)
                assert plan.precision == choice.precision
                assert (plan.backbone == "openvino") is (choice.backend == "openvino")


def test_isa_cap_from_the_environment(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert precision._isa_limit() == "AVX2"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "ALL")
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    assert precision._isa_limit() is None


def test_this_machine_is_read_consistently():
    info = precision.cpu_info()
    assert info.torch_capability == str(torch.backends.cpu.get_cpu_capability())
    if info.native_bf16:  # whatever the CPU: native implies both sources agree
        assert info.onednn_bf16 and (info.bf16_flags or not info.flags)
    choice = resolve("cpu")
    if not info.native_bf16:
        assert choice.precision == "fp32"


def test_choices_for_a_dialog_say_what_they_mean_here():
    amx = dict(precision.precision_choices("cpu", AMX))
    avx2 = dict(precision.precision_choices("cpu", AVX2))
    assert list(amx)[0] == "auto" and "fastest" in amx["bf16"]
    assert "NOT native" in avx2["bf16"]
    assert [v for v, _ in precision.backend_choices()] == ["auto", "torch", "openvino"]
