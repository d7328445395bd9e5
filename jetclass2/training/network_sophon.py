"""Weaver network configuration: Sophon's Particle Transformer for the 188 JetClass-II classes.

Used as ``weaver --network-config jetclass2/training/network_sophon.py -o num_classes 188 -o fc_params '[(512,0.1)]'``.
``-o export_embed True`` makes the model return the class scores followed by the embedding
(the class-token output), for ONNX export. Validation uses confusion-matrix metrics only
(weaver's default one-vs-one ROC AUC over 188 classes takes minutes per pass).

Precision: like Sophon's own network (jet-universe/sophon, networks/example_ParticleTransformer_sophon.py)
the aggregator and the FC layers run in an autocast region of their own when ``use_amp`` is set. Sophon
trained with weaver's dev/custom_train_eval branch, where ``--use-amp`` autocasts everything to float16
with a GradScaler; weaver 0.5.3 does the same with ``--use-amp --amp-dtype fp16`` (config ``amp_dtype``).
The region takes the dtype of the enclosing autocast region (float16 outside one, as Sophon's), so a
bf16 run never has an fp16 island without loss scaling.
"""
import functools

import torch
from weaver.nn.model.ParticleTransformer import ParticleTransformer
from weaver.utils.nn.tools import evaluate_classification, train_classification


class SophonParT(torch.nn.Module):
    """ParticleTransformer whose forward can also return the embedding."""

    def __init__(self, export_embed=False, **kwargs):
        super().__init__()
        self.export_embed = export_embed
        self.mod = ParticleTransformer(**kwargs)

    @torch.jit.ignore
    def no_weight_decay(self):
        return {"mod.cls_token"}

    def forward(self, points, features, lorentz_vectors, mask):
        x, padding_mask = self.mod._forward_encoder(features, v=lorentz_vectors, mask=mask)
        with torch.autocast("cuda", enabled=self.mod.use_amp, dtype=torch.get_autocast_dtype("cuda")):
            embed = self.mod._forward_aggregator(x, padding_mask)
            if self.mod.fc is None:
                return embed
            out = self.mod.fc(embed)
            if self.mod.for_inference:
                out = torch.softmax(out, dim=1)
            return torch.cat([out, embed], dim=1) if self.export_embed else out


def get_model(data_config, **kwargs):
    cfg = dict(
        input_dim=len(data_config.input_dicts["pf_features"]),
        num_classes=len(data_config.label_value) if isinstance(data_config.label_value, list) else 188,
        pair_input_dim=4, use_pre_activation_pair=True,
        embed_dims=[128, 512, 128], pair_embed_dims=[64, 64, 64],
        num_heads=8, num_layers=8, num_cls_layers=2, block_params=None,
        cls_block_params={"dropout": 0, "attn_dropout": 0, "activation_dropout": 0},
        fc_params=[], activation="gelu", trim=True, for_inference=False,
    )
    cfg.update(kwargs)
    model = SophonParT(**cfg)
    info = {
        "input_names": list(data_config.input_names),
        "input_shapes": {k: ((1,) + s[1:]) for k, s in data_config.input_shapes.items()},
        "output_names": ["softmax"],
        "dynamic_axes": {**{k: {0: "N", 2: "n_" + k.split("_")[0]} for k in data_config.input_names}, "softmax": {0: "N"}},
    }
    return model, info


def get_loss(data_config, **kwargs):
    return torch.nn.CrossEntropyLoss()


def get_train_fn(data_config, **kwargs):
    return train_classification


def get_evaluate_fn(data_config, **kwargs):
    return functools.partial(evaluate_classification, eval_metrics=["confusion_matrix"])
