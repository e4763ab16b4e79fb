"""Attention layers: MultiheadAttention, TransformerEncoderLayer and TransformerEncoder, with
PyTorch's parameter names (in_proj_weight, in_proj_bias, out_proj, or q/k/v_proj_weight when
kdim / vdim differ), initialisation, arguments, masks and results.

The heads are kept as their own axis ((N, heads, L, head_dim), no merging of batch and heads),
so one unknown dimension (a batch or a sequence length unknown while a graph is built) is fine.
The arithmetic follows torch.nn.functional.multi_head_attention_forward: with need_weights the
explicit softmax path (q scaled by sqrt(1/head_dim), masks added, softmax, dropout), without it
F.scaled_dot_product_attention (a fully masked row gives zeros there, as PyTorch's math kernel).
"""
import copy
import math

from ...errors import DGRuntimeError, DGValueError
from ...ops.elementwise import where
from ...ops.shape import cat, reshape_to, expand_to
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from ._factory import new_empty
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .normalization import LayerNorm

__all__ = ["MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder"]


def _is_bool(t):
    return t.dtype.np.kind == "b"


def _split3(t, E):
    """The three row blocks of a packed parameter. While a graph is built they are sliced from a
    copy: a compiled step whose backward reads a basic-slice view of a parameter reads it after
    the optimizer's in-place update of that step (a dg.function scheduling issue, reported)."""
    from ...mode import executing_eagerly
    if not executing_eagerly():
        t = t.clone()
    return t[0:E], t[E:2 * E], t[2 * E:3 * E]


def _float_mask(mask, like, name):
    """A bool mask (True: not allowed) as an additive float mask (-inf there); a float mask as is."""
    if mask is None:
        return None
    if _is_bool(mask):
        return where(mask, float("-inf"), 0.0).to(like.dtype)
    if mask.dtype.np.kind != "f":
        raise DGValueError(f"only bool and floating types of {name} are supported")
    return mask


class MultiheadAttention(Module):
    """torch.nn.MultiheadAttention."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        if embed_dim <= 0 or num_heads <= 0:
            raise DGValueError(f"embed_dim and num_heads must be greater than 0, got "
                               f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != self.embed_dim:
            raise DGValueError("embed_dim must be divisible by num_heads")
        kw = dict(dtype=dtype, device=device)
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(new_empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(new_empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(new_empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(new_empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(new_empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(new_empty(1, 1, embed_dim, **kw))
            self.bias_v = Parameter(new_empty(1, 1, embed_dim, **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        is_batched = query.ndim == 3
        if self.batch_first and is_batched:
            query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        out, weights = _mha_forward(self, query, key, value, key_padding_mask, need_weights,
                                    attn_mask, average_attn_weights, is_causal)
        if self.batch_first and is_batched:
            out = out.transpose(1, 0)
        return out, weights


def _mha_forward(m, query, key, value, key_padding_mask, need_weights, attn_mask,
                 average_attn_weights, is_causal):
    E, H, hd = m.embed_dim, m.num_heads, m.head_dim
    if query.ndim not in (2, 3):
        raise DGValueError(f"query should be unbatched 2D or batched 3D tensor but received "
                           f"{query.ndim}-D query tensor")
    is_batched = query.ndim == 3
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise DGValueError(f"For {'batched (3-D)' if is_batched else 'unbatched (2-D)'} `query`, "
                           f"expected `key` and `value` to be {query.ndim}-D but found "
                           f"{key.ndim}-D and {value.ndim}-D tensors respectively")
    if key_padding_mask is not None and key_padding_mask.ndim != (2 if is_batched else 1):
        raise DGValueError(f"For {'batched (3-D)' if is_batched else 'unbatched (2-D)'} `query`, "
                           f"expected `key_padding_mask` to be `None` or "
                           f"{2 if is_batched else 1}-D but found {key_padding_mask.ndim}-D tensor instead")
    if attn_mask is not None and is_batched and attn_mask.ndim not in (2, 3):
        raise DGValueError("For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or "
                           f"3-D but found {attn_mask.ndim}-D tensor instead")
    if attn_mask is not None and not is_batched and attn_mask.ndim not in (2, 3):
        raise DGValueError("For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or "
                           f"3-D but found {attn_mask.ndim}-D tensor instead")
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    L, N, e = query.shape
    if e is not None and e != E:
        raise DGValueError(f"was expecting embedding dimension of {E}, but got {e}")
    if is_causal and attn_mask is None:
        raise DGRuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
            "method `generate_square_subsequent_mask` to create this mask.")
    # ---- projections
    w, b = m.in_proj_weight, m.in_proj_bias
    if w is not None and query is key and key is value:  # self-attention: one packed projection
        proj = F.linear(query, w, b)
        q, k, v = proj[..., 0:E], proj[..., E:2 * E], proj[..., 2 * E:3 * E]
    else:
        bq, bk, bv = (None, None, None) if b is None else _split3(b, E)
        if w is not None:
            wq, wk, wv = _split3(w, E)
        else:
            wq, wk, wv = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
        q = F.linear(query, wq, bq)
        k = F.linear(key, wk, bk)
        v = F.linear(value, wv, bv)
    # ---- masks, as additive float masks
    attn_mask = _float_mask(attn_mask, q, "attn_mask")
    key_padding_mask = _float_mask(key_padding_mask, q, "key_padding_mask")
    S = k.shape[0]
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            want = (L, S)
            if any(a is not None and c is not None and a != c for a, c in zip(attn_mask.shape, want)):
                raise DGRuntimeError(f"The shape of the 2D attn_mask is dualgraph.Size("
                                     f"{list(attn_mask.shape)}), but should be {want}.")
            attn_mask = attn_mask.unsqueeze(0).unsqueeze(0)          # (1, 1, L, S)
        elif attn_mask.ndim == 3:
            want = (None if N is None else N * H, L, S)
            if any(a is not None and c is not None and a != c for a, c in zip(attn_mask.shape, want)):
                raise DGRuntimeError(f"The shape of the 3D attn_mask is dualgraph.Size("
                                     f"{list(attn_mask.shape)}), but should be {want}.")
            attn_mask = reshape_to(attn_mask, [[(query, 1)], [H], [(attn_mask, 1)], [(attn_mask, 2)]])
        else:
            raise DGRuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")
    if m.bias_k is not None and m.bias_v is not None:
        k = cat([k, expand_to(m.bias_k, [[1], [(k, 1)], [E]])], 0)
        v = cat([v, expand_to(m.bias_v, [[1], [(v, 1)], [E]])], 0)
        if attn_mask is not None:
            attn_mask = F.pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = F.pad(key_padding_mask, (0, 1))
    # ---- heads: (N, H, len, head_dim)
    q, k, v = (reshape_to(t, [[(t, 0)], [(t, 1)], [H], [hd]]).permute(1, 2, 0, 3) for t in (q, k, v))
    if m.add_zero_attn:
        k = cat([k, (k[:, :, :1] * 0).detach()], 2)
        v = cat([v, (v[:, :, :1] * 0).detach()], 2)
        if attn_mask is not None:
            attn_mask = F.pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = F.pad(key_padding_mask, (0, 1))
    if key_padding_mask is not None:
        kpm = key_padding_mask.unsqueeze(1).unsqueeze(1)           # (N, 1, 1, S)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    dropout_p = m.dropout if m.training else 0.0
    if need_weights:
        qs = q * math.sqrt(1.0 / float(hd))
        scores = qs @ k.transpose(-2, -1)
        if attn_mask is not None:
            scores = attn_mask + scores
        weights = F.softmax(scores, dim=-1)
        if dropout_p > 0.0:
            weights = F.dropout(weights, p=dropout_p)
        out = weights @ v                                           # (N, H, L, hd)
    else:
        weights = None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p)
    out = out.permute(2, 0, 1, 3)
    out = reshape_to(out, [[(out, 0)], [(out, 1)], [E]])
    out = m.out_proj(out)
    if weights is not None and average_attn_weights:
        weights = weights.mean(dim=1)
    if not is_batched:
        out = out.squeeze(1)
        if weights is not None:
            weights = weights.squeeze(0)
    return out, weights


def _activation(activation):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        gelu = getattr(F, "gelu", None)
        if gelu is None:
            raise DGRuntimeError("activation='gelu' needs F.gelu, which this build of "
                                 "dualgraph.nn.functional does not have yet")
        return gelu
    if callable(activation):
        return activation
    raise DGRuntimeError(f"activation should be relu/gelu, not {activation}")


class TransformerEncoderLayer(Module):
    """torch.nn.TransformerEncoderLayer: self-attention and a feed-forward block, each with a
    residual, post-norm (default) or pre-norm (norm_first)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device=None,
                 dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if isinstance(activation, str):
            self.activation_relu_or_gelu = {"relu": 1, "gelu": 2}.get(activation, 0)
            self._activation_name = activation
            _activation(activation)  # refuses an unknown name now, as PyTorch
            self.activation = None
        else:
            self.activation_relu_or_gelu = 0
            self._activation_name = None
            self.activation = activation

    def _act(self, x):
        fn = self.activation if self.activation is not None else _activation(self._activation_name)
        return fn(x)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self._act(self.linear1(x))))
        return self.dropout2(x)


class TransformerEncoder(Module):
    """torch.nn.TransformerEncoder: num_layers copies of encoder_layer (layers.0, layers.1, ...),
    then an optional norm."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        out = src
        for mod in self.layers:
            out = mod(out, src_mask=mask, is_causal=bool(is_causal),
                      src_key_padding_mask=src_key_padding_mask)
        if self.norm is not None:
            out = self.norm(out)
        return out
