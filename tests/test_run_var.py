"""VAR: the block parts AIM re-wires, the clip encoder every video method shares, the VAR
methods on SynthVid-shaped data, and ``bench run --task var`` on small real-format folders."""

from __future__ import annotations

import warnings

import torch
from test_backbones import hf_clip_dir, hf_siglip_dir, open_clip_arch  # noqa: F401 (fixtures)

from i2vbench.methods.backbones import load_backbone


def _parts_equal_block(m) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    x = torch.randn(3, 1 + (m.image_size // 8) ** 2, m.width)
    with torch.no_grad():
        for i, blk in enumerate(m.visual_blocks):
            torch.testing.assert_close(m.block_parts(i)(x), blk(x), rtol=0, atol=1e-5)


def test_block_parts_recompose_each_block(open_clip_arch, hf_clip_dir, hf_siglip_dir):  # noqa: F811
    from i2vbench.methods.backbones.tinyclip import TinyCLIP, TinyCLIPConfig
    from i2vbench.methods.paradigms.adapter import TemporalAdapter, insert_adapters

    tiny = TinyCLIP(TinyCLIPConfig(depth=2)).eval()
    _parts_equal_block(tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _parts_equal_block(load_backbone(f"open_clip:{open_clip_arch}"))
    _parts_equal_block(load_backbone(f"hf:{hf_clip_dir}"))
    _parts_equal_block(load_backbone(f"hf:{hf_siglip_dir}"))
    # still the model's own block after a paradigm wrapped it
    insert_adapters(tiny, lambda w: TemporalAdapter(w), layers=[1])
    assert tiny.block_parts(1).ln1 is tiny.visual_blocks[1].block.ln_1


def test_encode_clips_is_per_frame_encoding_with_the_clip_length_set():
    from i2vbench.methods.backbones.tinyclip import TinyCLIP, TinyCLIPConfig
    from i2vbench.methods.paradigms.common import FRAMES_PER_CLIP, encode_clips

    m = TinyCLIP(TinyCLIPConfig(depth=2)).eval()
    seen = []
    m.visual_blocks[0].register_forward_hook(lambda *_: seen.append(FRAMES_PER_CLIP.value))
    frames = torch.randint(0, 256, (2, 3, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        out = encode_clips(m, frames, output_hidden_states=True)
        ref = m.encode_frames(m.preprocess(frames.flatten(0, 1)), output_hidden_states=True)
    assert seen == [3, None]  # set inside encode_clips only
    assert out.pooled.shape == (2, 3, 128) and out.tokens.shape == (2, 3, 65, 128)
    torch.testing.assert_close(out.pooled.flatten(0, 1), ref.pooled)
    torch.testing.assert_close(out.hidden_states[0].flatten(0, 1), ref.hidden_states[0])
