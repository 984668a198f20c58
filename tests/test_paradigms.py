"""The paradigm mechanisms wrap any ILFM the way the survey describes them."""

from __future__ import annotations

import copy

import numpy as np
import torch

from i2vbench.methods.backbones import load_backbone
from i2vbench.methods.paradigms import count_parameters, freeze, num_frames_context
from i2vbench.methods.paradigms.adapter import TemporalAdapter, insert_adapters, without_adapters
from i2vbench.methods.paradigms.common import temporal_differences
from i2vbench.methods.paradigms.side import QueryModulatedPooling, ReversedRecurrentSide
from i2vbench.methods.tvg.spans import temporal_nms


def _frames(b: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 255, (b, 64, 64, 3), generator=g, dtype=torch.uint8)


def test_freeze_leaves_nothing_trainable():
    bb = freeze(load_backbone("tinyclip"))
    trainable, total = count_parameters(bb)
    assert trainable == 0 and total > 1_000_000


def test_adapters_start_as_identity_and_are_the_only_trainable_part():
    frozen = load_backbone("tinyclip")
    adapted = copy.deepcopy(frozen)
    adapters = insert_adapters(adapted, layers=[2, 3])
    x = frozen.preprocess(_frames())
    with torch.no_grad(), num_frames_context(4):
        ref = frozen.encode_frames(x).pooled
        got = adapted.encode_frames(x).pooled
    torch.testing.assert_close(got, ref)  # zero-initialised up-projection: exact frozen features
    trainable = {n for n, p in adapted.named_parameters() if p.requires_grad}
    assert trainable and all(".adapter." in n for n in trainable)
    assert sum(p.numel() for a in adapters for p in a.parameters()) == count_parameters(adapted)[0]


def test_without_adapters_is_the_frozen_ilfm_and_puts_the_adapters_back():
    frozen = load_backbone("tinyclip")
    adapted = copy.deepcopy(frozen)
    adapters = insert_adapters(adapted, layers=[3])
    torch.nn.init.normal_(adapters[0].up.weight)  # adapted features now differ from the frozen ones
    x = frozen.preprocess(_frames())
    with torch.no_grad(), num_frames_context(4):
        ref = frozen.encode_frames(x).pooled
        assert not torch.allclose(adapted.encode_frames(x).pooled, ref)
        with without_adapters(adapted) as plain:
            torch.testing.assert_close(plain.encode_frames(x).pooled, ref)
        assert not torch.allclose(adapted.encode_frames(x).pooled, ref)
    assert adapted.visual_blocks[3].adapter is adapters[0]


def test_query_pooling_equals_projecting_every_token():
    """Projections moved off the tokens (query through W_k, pool before W_v) change no output."""
    torch.manual_seed(0)
    pool = QueryModulatedPooling(48, 32)
    tokens, query, video_of = torch.randn(3, 5, 16, 48), torch.randn(4, 32), torch.tensor([0, 0, 2, 1])
    pooled, where, peak = pool(tokens, query, video_of)
    keys, values = pool.key(tokens)[video_of], pool.value(tokens)[video_of]
    logits = torch.einsum("btnc,bc->btn", keys, pool.query(query)) * pool.scale
    torch.testing.assert_close(where, logits.softmax(-1))
    torch.testing.assert_close(peak, logits.amax(-1, keepdim=True))
    torch.testing.assert_close(pooled, torch.einsum("btn,btnc->btc", logits.softmax(-1), values))


def test_temporal_adapter_mixes_only_within_a_clip():
    torch.manual_seed(0)
    adapter = TemporalAdapter(16, bottleneck=4)
    torch.nn.init.normal_(adapter.up.weight)  # make it non-trivial
    x = torch.randn(6, 5, 16)  # two clips of three frames
    with num_frames_context(3):
        y = adapter(x)
        x2 = x.clone()
        x2[3:] += 1.0  # change only the second clip
        y2 = adapter(x2)
    torch.testing.assert_close(y[:3], y2[:3])
    assert not torch.allclose(y[3:], y2[3:])


def test_side_network_reads_layers_without_touching_the_ilfm():
    side = ReversedRecurrentSide(width_in=32, text_width=24, dim=16, num_layers=3, num_patches=5)
    layers = torch.randn(2, 7, 3, 5, 32, requires_grad=False)  # two videos
    video_of = torch.tensor([0, 1, 1])  # three queries, two of them on the second video
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[1:, 5:] = True
    text = torch.randn(3, 4, 24)
    out = side(layers, pad, text, torch.zeros(3, 4, dtype=torch.bool), video_of)
    assert out.shape == (3, 7, 16)
    out.sum().backward()
    assert all(p.grad is not None for p in side.parameters() if p.requires_grad and p is not side.gate)
    # sharing a video's tokens between its queries is exactly running each query on its own copy
    side.eval()
    with torch.no_grad():
        shared = side(layers, pad, text, torch.zeros(3, 4, dtype=torch.bool), video_of)
        copied = side(layers[video_of], pad, text, torch.zeros(3, 4, dtype=torch.bool))
    torch.testing.assert_close(shared, copied)


def test_temporal_differences_never_read_padding():
    x = torch.arange(6, dtype=torch.float32).view(1, 6, 1).repeat(2, 1, 1)
    pad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    out = temporal_differences(x, pad, spans=(1, 2))
    assert out.shape == (2, 6, 3)
    # full-length video: x[t+s] - x[t-s] with the ends replicated
    torch.testing.assert_close(out[0, :, 1], torch.tensor([1.0, 2, 2, 2, 2, 1]))
    torch.testing.assert_close(out[0, :, 2], torch.tensor([2.0, 3, 4, 4, 3, 2]))
    # 4 real clips: its last clip (3) is replicated, the zeros of the padding never enter
    torch.testing.assert_close(out[1, :4, 1], torch.tensor([1.0, 2, 2, 1]))
    torch.testing.assert_close(out[1, :4, 2], torch.tensor([2.0, 3, 3, 2]))


def test_temporal_nms_keeps_best_and_drops_overlaps():
    w = np.array([[0, 10, 0.5], [1, 10, 0.9], [20, 30, 0.7], [0.5, 10, 0.8]])
    kept = temporal_nms(w, iou_threshold=0.7, top_k=10)
    np.testing.assert_array_equal(kept[:, 2], [0.9, 0.7])
