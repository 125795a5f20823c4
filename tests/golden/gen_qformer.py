#!/usr/bin/env python3
"""Golden data for the Q-Former and the stage-1 losses (reference-model.md §3, §4.1-4.4, §9.2, §9.5): the
LAVIS Q-Former and 3D-MoLM's Blip2Qformer.forward, transcribed here (no lavis install; transformers 4.35.2
only for PreTrainedModel's machinery - init_weights, tie_weights, invert_attention_mask, dtype - for
BertConfig, and for BertModel / BertTokenizer in the MiniLM check).

Transcribed from
  salesforce/LAVIS lavis/models/blip2_models/Qformer.py (c6bec01f9aa069b56af66d9e6ee25acdc82218a1):
      BertEmbeddings, BertSelfAttention (past_key_value cache, cross-attention), BertSelfOutput, BertAttention,
      BertIntermediate, BertOutput, BertLayer (query_length split; crossattention on the query rows of layers
      with layer_num % cross_attention_freq == 0; intermediate_query/output_query for the query rows),
      BertEncoder, BertPreTrainedModel._init_weights, BertModel (get_extended_attention_mask, forward),
      BertPredictionHeadTransform, BertLMPredictionHead, BertOnlyMLMHead, BertLMHeadModel.forward
      (label smoothing 0.1 on the shifted scores); relative positions, head pruning, attention outputs and
      gradient checkpointing (unused by 3D-MoLM) left out
  lsh0520/3D-MoLM (9dbd993742a05d458da0aa472a22d7da2bf1a56c):
      model/blip2.py init_Qformer (config, query tokens N(0, 0.02)), init_unimol_encoder (ln_graph)
      model/blip2qformer.py Blip2Qformer.__init__ (attribute order = state-dict order, `_query` copy),
      forward (the 3D one), contrast_global; model/dist_funs.py pl_concat_all_gather (@torch.no_grad:
      gathered features carry no gradient, the local rank's own rows included); model/blip2_stage1.py
      on_save_checkpoint (buffers and frozen parameters dropped from the saved keys)

Quirks kept (reference-model.md §3.4, §11 items 1, 18):
  - the cross-attention mask is the Uni-Mol padding mask, TRUE AT PADDING, put through transformers'
    invert_attention_mask: (1 - m) * finfo(dtype).min, so a molecule with padding attends only to its
    (identical) padding rows, a molecule without padding in a padded batch gets finfo.min everywhere (uniform
    softmax; its backward still sends the uniform-softmax gradient to the scores), and a batch without any
    padding has no mask (None -> all ones -> 0 added) and attends to every row;
  - the self-attention masks use (1 - m) * -10000 (LAVIS' get_extended_attention_mask), not finfo.min;
  - the query rows go through the embedding LayerNorm; the generation pass (d) reuses pass (a)'s cached
    query keys/values with their gradient (positions restart at 0, causal text with the 8 query keys as prefix);
  - word_embeddings has padding_idx = 0 (its lookup sends no gradient to row 0), the tied decoder does;
  - GTM negatives: fixed indices (`neg_graph_idx` per text, `neg_text_idx` per molecule) replace
    torch.multinomial; every off-diagonal index has nonzero sampling weight in the reference;
  - batch B has no padding at all: the reference crashes there in GTM (it indexes the absent mask); this
    script takes the natural extension, no mask anywhere in pass (c) (every query row attends to every row).
  - world size 1: contrast_global with rank 0 and the gathered features = the local ones detached (in the
    reference dist is initialised even on one GPU, contrast_global calls dist.get_rank(), and all_gather
    returns fresh tensors without gradient).

Writes tests/golden/data/qformer/ (model inputs/outputs in eval mode, no dropout):
  tiny_config.json          the random `tiny` model's sizes (4 layers, 32 wide, 4 heads, FFN 64, vocab 61 with
                            [DEC] = 60, 32 positions, encoder width 16, 4 queries, embed_dim 16)
  tiny.safetensors          its parameters (f32) under the stage-1 names of §9.2 without `blip2qformer.`,
                            including the tied aliases Qformer.cls.predictions.decoder.weight (= word
                            embeddings) and .decoder.bias (= cls.predictions.bias) as copies
  tiny_keys.txt             "<name> <shape as AxB>" of the stage-1 checkpoint keys in state-dict order
                            (state_dict() less the position_ids buffer, as on_save_checkpoint drops it)
  batches.safetensors       per batch X in {A, B, C}: X.graph [B,N,16] f32 (Uni-Mol output before ln_graph;
                            padding rows one repeated random row), X.graph_padding [B,N] u8 (1 = padding),
                            X.text_ids, X.text_mask [B,T] i64, X.neg_graph_idx, X.neg_text_idx [B] i64.
                            A: B 4, N 16, every molecule padded (9, 12, 6, 15 real), texts 12/7/9/5 of T 12;
                            B: B 3, N 8, no padding anywhere, texts of full length T 10;
                            C: B 3, N 16, real 10/16/7 (molecule 1 unpadded), texts 10/12/6 of T 12
  expected_f32.safetensors  model and inputs in f32 (cross mask constant finfo(f32).min), per batch X:
                            X.query_output [B,Nq,H] (pass a), X.text_output [B,T,H] (pass b),
                            X.graph_feats [B,Nq,E], X.text_feats [B,E] (normalised), X.sim_g2t, X.sim_t2g
                            [B,B] (logits, /temperature), X.match_output [3B,Nq+T,H] (pass c; texts
                            [text, text, text_neg], molecules [mol, mol_neg, mol]), X.gtm_logits [3B,2],
                            X.lm_logits [B,T,V] (pass d, before the shift), X.loss_gtc, X.loss_gtm,
                            X.loss_lm, X.loss (0-d), X.grad.<name> (d X.loss / d parameter for every
                            parameter, tied aliases excluded: the word embeddings' gradient includes the
                            decoder's). Two simulated ranks on batch A (rank r = molecules/texts 2r, 2r+1):
                            A.rank{r}.loss_gtc (contrast_global, labels r*2 + b, both ranks' gathered
                            features detached) and A.rank{r}.grad.<name> (zeros where no gradient arrives)
  expected_f64.safetensors  the same with model (the f32 values cast up) and inputs in f64 (finfo(f64).min)
  minilm_text.safetensors   text_ids, text_mask [3,T] i64 (BertTokenizer on MiniLM's vocab.txt, 3 sentences
                            padded to the longest), last_hidden_state [3,T,384] f32 of transformers' BertModel
                            from ../shared/data/models/minilm-l6 (token-type table zeroed: the Q-Former has
                            none) and qformer_text_output, pass (b) of the MiniLM Q-Former below (asserted
                            equal within 1e-5)
  minilm_new.json           how the MiniLM-initialised stage-1 model below gets every tensor not copied from
                            MiniLM (none is stored): "tensors" = {name, shape, amplitude} of the formula tensors,
                            "constants" = {name, shape, value} of the constant ones. Formula (exact integer
                            arithmetic, the C++ side computes the same): h = FNV-1a 64 of the UTF-8 name (offset
                            0xcbf29ce484222325, prime 0x100000001b3); element i (row-major) z = h + (i + 1) *
                            0x9E3779B97F4A7C15, then splitmix64's finaliser (z ^= z >> 30, z *= 0xBF58476D1CE4E5B9,
                            z ^= z >> 27, z *= 0x94D049BB133111EB, z ^= z >> 31; all mod 2^64), u = (z >> 11) *
                            2^-53, value = f32(amplitude * (2u - 1)) with the product in f64. Amplitudes: 0.02 *
                            sqrt(3) (uniform with §3.3's N(0, 0.02) standard deviation) for the cross-attention
                            query/key/value/output.dense weights, dec_row [1,384] (the [DEC] word-embedding row
                            30522), query_tokens and cls.predictions.transform.dense.weight; 1/sqrt(384) (PyTorch's
                            nn.Linear default bound) for graph_proj, text_proj, gtm_head weights and biases.
                            Constants as §3.3: their other biases 0, LayerNorm weights 1 / biases 0,
                            cls.predictions.bias 0 (all 30523, [DEC] included), ln_graph (1, 0).
                            FORMULA_CHECKS pins two values
  minilm_stage1.safetensors a stage-1 model initialised from MiniLM as §3.3 maps SciBERT (6 layers, 384, 12
                            heads, FFN 1536, vocab 30522 + [DEC] (id 30522), cross-attention in layers 0/2/4 from
                            width 32, 8 queries, embed_dim 256; MiniLM's tensors read from ../shared/data, never
                            copied here, the rest from minilm_new.json): the batch M.* (B 3, N 16, W 32, T 12 real
                            MiniLM ids) and in f32 M.query_output, M.text_output, M.gtm_logits, M.loss_gtc,
                            M.loss_gtm, M.loss_lm, M.loss, M.gradsum.<name> = [sum, sum of squares, sum |g|] (f64
                            of the f32 gradient) and M.gradhead.<name> = its first min(64, numel) values (f32)
  paper_keys.txt            the paper-size stage-1 keys (12 layers, 768, 12 heads, 3072, vocab 31091, 512
                            positions, width 512, 8 queries, embed_dim 256) as tiny_keys.txt, then
                            "parameters 178864501" (unique trainable values, checked against §9.5)

Run (deterministic; one CPU thread; needs ../shared/data/models/minilm-l6):
    /tmp/venv-torch/bin/python tests/golden/gen_qformer.py
with torch 2.1.2, numpy, transformers 4.35.2, safetensors (README.md).
"""
import copy
import json
import math
import os
import pathlib
import struct

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from torch import nn  # noqa: E402
from transformers import BertConfig, BertTokenizer  # noqa: E402
from transformers import BertModel as HFBertModel  # noqa: E402
from transformers.activations import ACT2FN  # noqa: E402
from transformers.modeling_utils import PreTrainedModel  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "data" / "qformer"
MINILM = HERE.parents[2] / "shared" / "data" / "models" / "minilm-l6"

TINY = {"num_hidden_layers": 4, "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64,
        "vocab_size": 61, "max_position_embeddings": 32, "layer_norm_eps": 1e-12, "encoder_width": 16,
        "num_query_tokens": 4, "cross_attention_freq": 2, "embed_dim": 16, "ln_graph_eps": 1e-5,
        "pad_token_id": 0, "dec_token_id": 60, "temperature": 0.1, "lm_label_smoothing": 0.1}
PAPER_COUNT = 178_864_501  # reference-model.md §9.5


# ---------------------------------------------------------------------------------------------------------
# LAVIS lavis/models/blip2_models/Qformer.py, transcribed (module and attribute names kept: they are the keys)
# ---------------------------------------------------------------------------------------------------------
class BertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)))
        self.config = config

    def forward(self, input_ids=None, position_ids=None, query_embeds=None, past_key_values_length=0):
        seq_length = input_ids.size()[1] if input_ids is not None else 0
        if position_ids is None:
            position_ids = self.position_ids[:, past_key_values_length: seq_length + past_key_values_length].clone()
        if input_ids is not None:
            embeddings = self.word_embeddings(input_ids)
            embeddings = embeddings + self.position_embeddings(position_ids)  # "absolute"
            if query_embeds is not None:
                embeddings = torch.cat((query_embeds, embeddings), dim=1)
        else:
            embeddings = query_embeds
        embeddings = self.LayerNorm(embeddings)  # the query rows too
        return self.dropout(embeddings)


class BertSelfAttention(nn.Module):
    def __init__(self, config, is_cross_attention):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = int(config.hidden_size / config.num_attention_heads)
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        if is_cross_attention:
            self.key = nn.Linear(config.encoder_width, self.all_head_size)
            self.value = nn.Linear(config.encoder_width, self.all_head_size)
        else:
            self.key = nn.Linear(config.hidden_size, self.all_head_size)
            self.value = nn.Linear(config.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def transpose_for_scores(self, x):
        x = x.view(*(x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)))
        return x.permute(0, 2, 1, 3)

    def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_value=None):
        is_cross_attention = encoder_hidden_states is not None
        if is_cross_attention:
            key_layer = self.transpose_for_scores(self.key(encoder_hidden_states))
            value_layer = self.transpose_for_scores(self.value(encoder_hidden_states))
            attention_mask = encoder_attention_mask
        elif past_key_value is not None:
            key_layer = self.transpose_for_scores(self.key(hidden_states))
            value_layer = self.transpose_for_scores(self.value(hidden_states))
            key_layer = torch.cat([past_key_value[0], key_layer], dim=2)
            value_layer = torch.cat([past_key_value[1], value_layer], dim=2)
        else:
            key_layer = self.transpose_for_scores(self.key(hidden_states))
            value_layer = self.transpose_for_scores(self.value(hidden_states))
        query_layer = self.transpose_for_scores(self.query(hidden_states))
        past_key_value = (key_layer, value_layer)
        attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
        attention_scores = attention_scores / math.sqrt(self.attention_head_size)
        if attention_mask is not None:
            attention_scores = attention_scores + attention_mask
        attention_probs = nn.Softmax(dim=-1)(attention_scores)
        attention_probs_dropped = self.dropout(attention_probs)
        if head_mask is not None:
            attention_probs_dropped = attention_probs_dropped * head_mask
        context_layer = torch.matmul(attention_probs_dropped, value_layer)
        context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
        context_layer = context_layer.view(*(context_layer.size()[:-2] + (self.all_head_size,)))
        return (context_layer, past_key_value)


class BertSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(nn.Module):
    def __init__(self, config, is_cross_attention=False):
        super().__init__()
        self.self = BertSelfAttention(config, is_cross_attention)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_value=None):
        self_outputs = self.self(hidden_states, attention_mask, head_mask, encoder_hidden_states,
                                 encoder_attention_mask, past_key_value)
        attention_output = self.output(self_outputs[0], hidden_states)
        return (attention_output,) + self_outputs[1:]


class BertIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACT2FN[config.hidden_act]  # "gelu": erf GELU

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))


class BertOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertLayer(nn.Module):
    def __init__(self, config, layer_num):
        super().__init__()
        self.config = config
        self.attention = BertAttention(config)
        self.layer_num = layer_num
        if self.config.add_cross_attention and layer_num % self.config.cross_attention_freq == 0:
            self.crossattention = BertAttention(config, is_cross_attention=self.config.add_cross_attention)
            self.has_cross_attention = True
        else:
            self.has_cross_attention = False
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)
        self.intermediate_query = BertIntermediate(config)
        self.output_query = BertOutput(config)

    def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_value=None, query_length=0):
        self_attn_past_key_value = past_key_value[:2] if past_key_value is not None else None
        self_attention_outputs = self.attention(hidden_states, attention_mask, head_mask,
                                                past_key_value=self_attn_past_key_value)
        attention_output = self_attention_outputs[0]
        present_key_value = self_attention_outputs[-1]
        if query_length > 0:
            query_attention_output = attention_output[:, :query_length, :]
            if self.has_cross_attention:
                assert encoder_hidden_states is not None
                cross_attention_outputs = self.crossattention(query_attention_output, attention_mask, head_mask,
                                                              encoder_hidden_states, encoder_attention_mask)
                query_attention_output = cross_attention_outputs[0]
            layer_output = self.feed_forward_chunk_query(query_attention_output)
            if attention_output.shape[1] > query_length:
                layer_output_text = self.feed_forward_chunk(attention_output[:, query_length:, :])
                layer_output = torch.cat([layer_output, layer_output_text], dim=1)
        else:
            layer_output = self.feed_forward_chunk(attention_output)
        return (layer_output, present_key_value)

    def feed_forward_chunk(self, attention_output):
        return self.output(self.intermediate(attention_output), attention_output)

    def feed_forward_chunk_query(self, attention_output):
        return self.output_query(self.intermediate_query(attention_output), attention_output)


class BertEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.layer = nn.ModuleList([BertLayer(config, i) for i in range(config.num_hidden_layers)])

    def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_values=None, use_cache=None, query_length=0):
        next_decoder_cache = () if use_cache else None
        for i in range(self.config.num_hidden_layers):
            layer_head_mask = head_mask[i] if head_mask is not None else None
            past_key_value = past_key_values[i] if past_key_values is not None else None
            layer_outputs = self.layer[i](hidden_states, attention_mask, layer_head_mask, encoder_hidden_states,
                                          encoder_attention_mask, past_key_value, query_length)
            hidden_states = layer_outputs[0]
            if use_cache:
                next_decoder_cache += (layer_outputs[-1],)
        return hidden_states, next_decoder_cache


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias  # registers the same Parameter under decoder.bias

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, sequence_output):
        return self.predictions(sequence_output)


class BertPreTrainedModel(PreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"
    _keys_to_ignore_on_load_missing = [r"position_ids"]

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()


class BertModel(BertPreTrainedModel):
    def __init__(self, config, add_pooling_layer=False):
        super().__init__(config)
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = None  # add_pooling_layer=False in BertLMHeadModel
        self.init_weights()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def get_extended_attention_mask(self, attention_mask, input_shape, device, is_decoder, has_query=False):
        if attention_mask.dim() == 3:
            extended_attention_mask = attention_mask[:, None, :, :]
        elif attention_mask.dim() == 2:
            if is_decoder:
                batch_size, seq_length = input_shape
                seq_ids = torch.arange(seq_length, device=device)
                causal_mask = seq_ids[None, None, :].repeat(batch_size, seq_length, 1) <= seq_ids[None, :, None]
                causal_mask = causal_mask.to(attention_mask.dtype)
                if causal_mask.shape[1] < attention_mask.shape[1]:
                    prefix_seq_len = attention_mask.shape[1] - causal_mask.shape[1]
                    if has_query:  # UniLM style attention mask
                        causal_mask = torch.cat([torch.zeros((batch_size, prefix_seq_len, seq_length), device=device,
                                                             dtype=causal_mask.dtype), causal_mask], axis=1)
                    causal_mask = torch.cat([torch.ones((batch_size, causal_mask.shape[1], prefix_seq_len),
                                                        device=device, dtype=causal_mask.dtype), causal_mask], axis=-1)
                extended_attention_mask = causal_mask[:, None, :, :] * attention_mask[:, None, None, :]
            else:
                extended_attention_mask = attention_mask[:, None, None, :]
        else:
            raise ValueError("bad attention_mask shape")
        extended_attention_mask = extended_attention_mask.to(dtype=self.dtype)
        extended_attention_mask = (1.0 - extended_attention_mask) * -10000.0
        return extended_attention_mask

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None, query_embeds=None,
                encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None, use_cache=None,
                is_decoder=False):
        if input_ids is None:
            assert query_embeds is not None
        past_key_values_length = (past_key_values[0][0].shape[2] - self.config.query_length
                                  if past_key_values is not None else 0)
        query_length = query_embeds.shape[1] if query_embeds is not None else 0
        embedding_output = self.embeddings(input_ids=input_ids, position_ids=position_ids, query_embeds=query_embeds,
                                           past_key_values_length=past_key_values_length)
        input_shape = embedding_output.size()[:-1]
        batch_size, seq_length = input_shape
        device = embedding_output.device
        if attention_mask is None:
            attention_mask = torch.ones(((batch_size, seq_length + past_key_values_length)), device=device)
        if is_decoder:
            extended_attention_mask = self.get_extended_attention_mask(attention_mask, input_ids.shape, device,
                                                                       is_decoder,
                                                                       has_query=(query_embeds is not None))
        else:
            extended_attention_mask = self.get_extended_attention_mask(attention_mask, input_shape, device, is_decoder)
        if encoder_hidden_states is not None:
            encoder_batch_size, encoder_sequence_length, _ = encoder_hidden_states.size()
            encoder_hidden_shape = (encoder_batch_size, encoder_sequence_length)
            if encoder_attention_mask is None:
                encoder_attention_mask = torch.ones(encoder_hidden_shape, device=device)
            # transformers' ModuleUtilsMixin.invert_attention_mask: (1 - m) * finfo(self.dtype).min
            encoder_extended_attention_mask = self.invert_attention_mask(encoder_attention_mask)
        else:
            encoder_extended_attention_mask = None
        head_mask = self.get_head_mask(head_mask, self.config.num_hidden_layers)
        sequence_output, cache = self.encoder(embedding_output, attention_mask=extended_attention_mask,
                                              head_mask=head_mask, encoder_hidden_states=encoder_hidden_states,
                                              encoder_attention_mask=encoder_extended_attention_mask,
                                              past_key_values=past_key_values, use_cache=use_cache,
                                              query_length=query_length)
        return sequence_output, cache


class BertLMHeadModel(BertPreTrainedModel):
    _keys_to_ignore_on_load_unexpected = [r"pooler"]
    _keys_to_ignore_on_load_missing = [r"position_ids", r"predictions.decoder.bias"]

    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.init_weights()  # _init_weights on every module, then tie_weights(): decoder.weight = word_embeddings

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings):
        self.cls.predictions.decoder = new_embeddings

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None, query_embeds=None,
                encoder_hidden_states=None, encoder_attention_mask=None, labels=None, past_key_values=None,
                use_cache=True, is_decoder=True, reduction="mean"):
        if labels is not None:
            use_cache = False
        if past_key_values is not None:
            query_embeds = None
        sequence_output, _ = self.bert(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                       head_mask=head_mask, query_embeds=query_embeds,
                                       encoder_hidden_states=encoder_hidden_states,
                                       encoder_attention_mask=encoder_attention_mask, past_key_values=past_key_values,
                                       use_cache=use_cache, is_decoder=is_decoder)
        if query_embeds is not None:
            sequence_output = sequence_output[:, query_embeds.shape[1]:, :]
        prediction_scores = self.cls(sequence_output)
        lm_loss = None
        if labels is not None:
            shifted_prediction_scores = prediction_scores[:, :-1, :].contiguous()
            labels = labels[:, 1:].contiguous()
            loss_fct = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.1)
            lm_loss = loss_fct(shifted_prediction_scores.view(-1, self.config.vocab_size), labels.view(-1))
        return lm_loss, prediction_scores


# ---------------------------------------------------------------------------------------------------------
# 3D-MoLM model/blip2qformer.py Blip2Qformer (trainable part; the frozen Uni-Mol encoder is replaced by its output)
# ---------------------------------------------------------------------------------------------------------
def qformer_config(vocab, hidden, layers, heads, ffn, positions, width, num_query_token, freq=2):
    cfg = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=ffn, hidden_act="gelu", max_position_embeddings=positions,
                     layer_norm_eps=1e-12, pad_token_id=0, initializer_range=0.02)
    cfg.encoder_width = width  # init_Qformer
    cfg.add_cross_attention = True
    cfg.cross_attention_freq = freq
    cfg.query_length = num_query_token
    return cfg


class Stage1(nn.Module):
    """Blip2Qformer's attributes in its __init__ order (graph_encoder left out): the state-dict order is
    query_tokens (own parameter first), ln_graph, Qformer, graph_proj, text_proj, gtm_head."""

    def __init__(self, cfg, graph_width, embed_dim, temperature=0.1, dec_token_id=None):
        super().__init__()
        self.ln_graph = nn.LayerNorm(graph_width)  # init_unimol_encoder: nn.LayerNorm(num_features), eps 1e-5
        self.Qformer = BertLMHeadModel(cfg)
        self.query_tokens = nn.Parameter(torch.zeros(1, cfg.query_length, cfg.hidden_size))
        self.query_tokens.data.normal_(mean=0.0, std=cfg.initializer_range)
        self.graph_proj = nn.Linear(cfg.hidden_size, embed_dim)
        self.text_proj = nn.Linear(cfg.hidden_size, embed_dim)
        self.gtm_head = nn.Linear(cfg.hidden_size, 2)
        self.temperature = temperature
        self.dec_token_id = dec_token_id
        self.pad_token_id = cfg.pad_token_id


def contrast_global(model, features_graph, features_text, features_graph_all, features_text_all, rank):
    bs = features_graph.size(0)
    sim_q2t = (features_graph.unsqueeze(1) @ features_text_all.unsqueeze(-1)).squeeze(dim=-1)
    sim_g2t, _ = sim_q2t.max(-1)
    logits_per_graph = sim_g2t / model.temperature
    sim_t2q = (features_text.unsqueeze(1).unsqueeze(1) @ features_graph_all.permute(0, 2, 1)).squeeze(dim=-2)
    sim_t2g, _ = sim_t2q.max(-1)
    logits_per_text = sim_t2g / model.temperature
    labels = torch.linspace(rank * bs, rank * bs + bs - 1, bs, dtype=int)
    loss_graph = F.cross_entropy(logits_per_graph, labels)
    loss_text = F.cross_entropy(logits_per_text, labels)
    loss = (loss_graph + loss_text) / 2
    return logits_per_graph[:, rank * bs:rank * bs + bs], logits_per_text[:, rank * bs:rank * bs + bs], loss


def local_features(model, graph, graph_mask, text_ids, text_mask):
    """The start of Blip2Qformer.forward: ln_graph, pass (a) with cache, pass (b), projections, normalisation."""
    batch_node = model.ln_graph(graph.detach())  # Uni-Mol is frozen: batch_node.detach() before ln_graph
    query_tokens = model.query_tokens.expand(batch_node.shape[0], -1, -1)
    query_hidden, query_cache = model.Qformer.bert(query_embeds=query_tokens, encoder_hidden_states=batch_node,
                                                   encoder_attention_mask=graph_mask, use_cache=True)
    graph_feats = model.graph_proj(query_hidden)
    text_hidden, _ = model.Qformer.bert(text_ids, attention_mask=text_mask)
    text_feats = model.text_proj(text_hidden[:, 0, :])
    text_feats, graph_feats = F.normalize(text_feats, p=2, dim=-1), F.normalize(graph_feats, p=2, dim=-1)
    return dict(batch_node=batch_node, query_hidden=query_hidden, query_cache=query_cache, text_hidden=text_hidden,
                graph_feats=graph_feats, text_feats=text_feats)


def stage1_forward(model, graph, graph_mask, text_ids, text_mask, neg_graph_idx, neg_text_idx):
    """Blip2Qformer.forward (3D), world size 1, the multinomial draws replaced by the given indices."""
    f = local_features(model, graph, graph_mask, text_ids, text_mask)
    batch_node, graph_feats, text_feats = f["batch_node"], f["graph_feats"], f["text_feats"]
    batch_size = batch_node.shape[0]
    # pl_concat_all_gather: all_gather under no_grad, one rank -> the local features without gradient
    text_feats_all, graph_feats_all = text_feats.detach(), graph_feats.detach()
    sim_g2t, sim_t2g, loss_gtc = contrast_global(model, graph_feats, text_feats, graph_feats_all, text_feats_all, 0)

    # GTM with hard negatives (fixed indices instead of torch.multinomial)
    graph_embeds_neg = torch.stack([batch_node[int(i)] for i in neg_graph_idx], dim=0)
    text_ids_neg = torch.stack([text_ids[int(i)] for i in neg_text_idx], dim=0)
    text_atts_neg = torch.stack([text_mask[int(i)] for i in neg_text_idx], dim=0)
    text_ids_all = torch.cat([text_ids, text_ids, text_ids_neg], dim=0)  # pos, pos, neg
    text_atts_all = torch.cat([text_mask, text_mask, text_atts_neg], dim=0)
    query_tokens_itm = model.query_tokens.expand(text_ids_all.shape[0], -1, -1)
    query_atts_itm = torch.ones(query_tokens_itm.size()[:-1], dtype=torch.long)
    attention_mask_all = torch.cat([query_atts_itm, text_atts_all], dim=1)
    graph_embeds_all = torch.cat([batch_node, graph_embeds_neg, batch_node], dim=0)  # pos, neg, pos
    if graph_mask is None:
        graph_atts_all = None  # no padding in the batch: the reference crashes here; natural extension
    else:
        graph_mask_neg = torch.stack([graph_mask[int(i)] for i in neg_graph_idx], dim=0)
        graph_atts_all = torch.cat([graph_mask, graph_mask_neg, graph_mask], dim=0)
    match_hidden, _ = model.Qformer.bert(text_ids_all, query_embeds=query_tokens_itm,
                                         attention_mask=attention_mask_all, encoder_hidden_states=graph_embeds_all,
                                         encoder_attention_mask=graph_atts_all)
    vl_embeddings = match_hidden[:, :query_tokens_itm.size(1), :]
    gtm_logits = model.gtm_head(vl_embeddings).mean(dim=1)
    itm_labels = torch.cat([torch.ones(batch_size, dtype=torch.long), torch.zeros(2 * batch_size, dtype=torch.long)])
    loss_gtm = F.cross_entropy(gtm_logits, itm_labels)

    # LM (pass d) on pass (a)'s cache
    decoder_input_ids = text_ids.clone()
    decoder_input_ids[:, 0] = model.dec_token_id
    labels = decoder_input_ids.masked_fill(decoder_input_ids == model.pad_token_id, -100)
    query_atts = torch.ones(model.query_tokens.expand(batch_size, -1, -1).size()[:-1], dtype=torch.long)
    attention_mask = torch.cat([query_atts, text_mask], dim=1)
    loss_lm, lm_logits = model.Qformer(decoder_input_ids, attention_mask=attention_mask,
                                       past_key_values=f["query_cache"], labels=labels)
    return dict(query_output=f["query_hidden"], text_output=f["text_hidden"], graph_feats=graph_feats,
                text_feats=text_feats, sim_g2t=sim_g2t, sim_t2g=sim_t2g, match_output=match_hidden,
                gtm_logits=gtm_logits, lm_logits=lm_logits, loss_gtc=loss_gtc, loss_gtm=loss_gtm, loss_lm=loss_lm,
                loss=loss_gtc + loss_gtm + loss_lm)


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------
def shape_str(t):
    return "x".join(str(d) for d in t.shape) if t.dim() else "scalar"


def checkpoint_keys(model):
    """state_dict() keys kept by Blip2Stage1.on_save_checkpoint: those naming a trainable parameter."""
    lines = []
    for k, v in model.state_dict().items():
        try:
            if not model.get_parameter(k).requires_grad:
                continue
        except AttributeError:  # buffers (Qformer.bert.embeddings.position_ids)
            continue
        lines.append(f"{k} {shape_str(v)}")
    return lines


def params(model):
    """name -> Parameter, tied aliases (cls.predictions.decoder.*) excluded (named_parameters de-duplicates)."""
    return dict(model.named_parameters())


def grads(model, loss, prefix):
    names, ps = zip(*params(model).items())
    gs = torch.autograd.grad(loss, ps, allow_unused=True)
    return {f"{prefix}.{n}": (torch.zeros_like(p) if g is None else g).detach().clone().contiguous()
            for n, p, g in zip(names, ps, gs)}


def randomise(model, gen):
    """Every parameter away from its default (f64 draws rounded to f32), so no term hides behind 0 or 1."""
    with torch.no_grad():
        for name, p in params(model).items():
            shape = p.shape
            if name.endswith("LayerNorm.weight") or name == "ln_graph.weight":
                v = 1 + 0.2 * torch.randn(shape, generator=gen, dtype=torch.float64)
            elif name.endswith("bias"):  # Linear and LayerNorm biases, cls.predictions.bias
                v = 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)
            elif name in ("query_tokens", "Qformer.bert.embeddings.word_embeddings.weight"):
                v = torch.randn(shape, generator=gen, dtype=torch.float64)
            elif name == "Qformer.bert.embeddings.position_embeddings.weight":
                v = 0.5 * torch.randn(shape, generator=gen, dtype=torch.float64)
            else:  # Linear weights [out, in]
                v = torch.randn(shape, generator=gen, dtype=torch.float64) / math.sqrt(shape[-1])
            p.copy_(v.to(torch.float32))


def text_batch(gen, lengths, T):
    ids = torch.zeros((len(lengths), T), dtype=torch.int64)
    mask = torch.zeros((len(lengths), T), dtype=torch.int64)
    for b, n in enumerate(lengths):
        ids[b, 0], ids[b, n - 1] = 1, 2  # [CLS] ... [SEP]
        ids[b, 1:n - 1] = torch.randint(3, 60, (n - 2,), generator=gen)
        mask[b, :n] = 1
    return ids, mask


def graph_batch(gen, real, N, W):
    """Uni-Mol-like output: random rows, the padding rows of a molecule all equal (one random row repeated)."""
    g = torch.randn((len(real), N, W), generator=gen)
    pad = torch.zeros((len(real), N), dtype=torch.uint8)
    for b, n in enumerate(real):
        if n < N:
            g[b, n:] = torch.randn((W,), generator=gen)
            pad[b, n:] = 1
    return g, pad


def make_batches(gen):
    spec = {"A": ([9, 12, 6, 15], 16, [12, 7, 9, 5], 12),
            "B": ([8, 8, 8], 8, [10, 10, 10], 10),
            "C": ([10, 16, 7], 16, [10, 12, 6], 12)}
    out = {}
    for x, (real, N, lengths, T) in spec.items():
        g, pad = graph_batch(gen, real, N, TINY["encoder_width"])
        ids, mask = text_batch(gen, lengths, T)
        B = len(real)
        out.update({f"{x}.graph": g, f"{x}.graph_padding": pad, f"{x}.text_ids": ids, f"{x}.text_mask": mask,
                    f"{x}.neg_graph_idx": (torch.arange(B) + 1) % B, f"{x}.neg_text_idx": (torch.arange(B) + 2) % B})
    return out


def unpack(batches, x, dtype):
    pad = batches[f"{x}.graph_padding"].bool()
    mask = pad if pad.any() else None  # SimpleUniMolModel: padding_mask None when the batch has none
    return (batches[f"{x}.graph"].to(dtype), mask, batches[f"{x}.text_ids"], batches[f"{x}.text_mask"],
            batches[f"{x}.neg_graph_idx"], batches[f"{x}.neg_text_idx"])


def expected(model32, batches, dtype):
    model = copy.deepcopy(model32).to(dtype).eval()
    assert model.Qformer.cls.predictions.decoder.weight is model.Qformer.bert.embeddings.word_embeddings.weight
    assert model.Qformer.cls.predictions.decoder.bias is model.Qformer.cls.predictions.bias
    out = {}
    for x in ("A", "B", "C"):
        r = stage1_forward(model, *unpack(batches, x, dtype))
        out.update(grads(model, r["loss"], f"{x}.grad"))
        out.update({f"{x}.{k}": v.detach().clone().contiguous() for k, v in r.items()})
    # two simulated ranks on batch A
    graph, mask, ids, tmask, _, _ = unpack(batches, "A", dtype)
    halves = [slice(0, 2), slice(2, 4)]
    feats = [local_features(model, graph[s], mask[s], ids[s], tmask[s]) for s in halves]
    graph_all = torch.cat([f["graph_feats"] for f in feats], dim=0).detach()  # all_gather: no gradient
    text_all = torch.cat([f["text_feats"] for f in feats], dim=0).detach()
    for r, f in enumerate(feats):
        _, _, loss = contrast_global(model, f["graph_feats"], f["text_feats"], graph_all, text_all, r)
        out[f"A.rank{r}.loss_gtc"] = loss.detach().clone()
        out.update(grads(model, loss, f"A.rank{r}.grad"))
    return out


# ---------------------------------------------------------------------------------------------------------
# MiniLM
# ---------------------------------------------------------------------------------------------------------
MINILM_SENTENCES = ["The molecule is a monocarboxylic acid.",
                    "Benzene is an aromatic hydrocarbon with a planar ring of six carbon atoms.",
                    "It is a conjugate base of ethanol."]
MINILM_M_SENTENCES = ["The molecule is an alcohol.",
                      "Its ring opens in water and the salt that forms tastes bitter to most people who try it.",
                      "A sulfonamide antibiotic."]


# The MiniLM-initialised model's new tensors are not stored: Python and C++ compute them from their name with
# exact integer arithmetic (splitmix64 over FNV-1a 64), listed in minilm_new.json.
FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3
GOLDEN_GAMMA, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
MASK64 = (1 << 64) - 1
NORMAL_AMPLITUDE = 0.02 * math.sqrt(3)  # uniform with N(0, 0.02)'s standard deviation (§3.3 initializer_range)


def fnv1a64(name):
    h = FNV_OFFSET
    for byte in name.encode("utf-8"):
        h = ((h ^ byte) * FNV_PRIME) & MASK64
    return h


def formula_value(name, i, amplitude):
    """Reference scalar form: element i (row-major) of tensor `name`, as a Python float holding the f32 value."""
    z = (fnv1a64(name) + (i + 1) * GOLDEN_GAMMA) & MASK64
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    z = z ^ (z >> 31)
    u = (z >> 11) * 2.0 ** -53
    return float(np.float32(amplitude * (2.0 * u - 1.0)))


def formula_tensor(name, shape, amplitude):
    """formula_value over every element (numpy uint64 arithmetic wraps mod 2^64), as an f32 tensor."""
    n = math.prod(shape)
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a64(name)) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(GOLDEN_GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53  # < 2^53: exact
    v = (amplitude * (2.0 * u - 1.0)).astype(np.float32)
    for i in (0, n // 2, n - 1):
        assert float(v[i]) == formula_value(name, i, amplitude), (name, i)
    return torch.from_numpy(v.reshape(shape).copy())


def f32_hex(x):
    return f"0x{struct.unpack('<I', struct.pack('<f', x))[0]:08x}"


# two values printed once and fixed here: a change of the formula (or of its constants) fails this check
FORMULA_CHECKS = [  # (name, flat index, amplitude, f32 bits): 0.009135857224464417, -0.010467493906617165
    ("Qformer.bert.encoder.layer.0.crossattention.self.query.weight", 0, NORMAL_AMPLITUDE, "0x3c15ae90"),
    ("gtm_head.bias", 1, 1 / math.sqrt(384), "0xbc2b7fda")]


def check_formula():
    for name, i, a, bits in FORMULA_CHECKS:
        got = f32_hex(formula_value(name, i, a))
        assert got == bits, f"formula_value({name}, {i}) = {got}, expected {bits}"


def minilm_stage1():
    """A stage-1 model initialised from MiniLM as §3.3 maps SciBERT; returns (model, minilm_new.json's content).
    Every tensor not read from MiniLM is a formula tensor or a constant (no random draw)."""
    hf = json.loads((MINILM / "config.json").read_text())
    V = hf["vocab_size"] + 1  # [DEC] = 30522
    cfg = qformer_config(V, hf["hidden_size"], hf["num_hidden_layers"], hf["num_attention_heads"],
                         hf["intermediate_size"], hf["max_position_embeddings"], 32, 8)
    model = Stage1(cfg, 32, 256, temperature=0.1, dec_token_id=V - 1)
    sd = model.state_dict()
    src = load_file(str(MINILM / "model.safetensors"))
    copied = set()
    with torch.no_grad():
        for k, v in src.items():
            if k.startswith(("pooler.", "embeddings.token_type_embeddings")) or k == "embeddings.position_ids":
                continue  # dropped: the Q-Former has no token-type table nor pooler
            name = "Qformer.bert." + k
            if k == "embeddings.word_embeddings.weight":
                sd[name][: v.shape[0]].copy_(v)
            else:
                assert sd[name].shape == v.shape, name
                sd[name].copy_(v)
            copied.add(name)
        # Blip2Qformer.__init__: every parameter whose name contains `_query` gets the value without `_query`
        state_dict = model.Qformer.state_dict()
        for name, param in model.Qformer.named_parameters():
            if "_query" in name:
                param.data.copy_(state_dict[name.replace("_query", "")])
                copied.add("Qformer." + name)

        H = cfg.hidden_size
        linear_amplitude = 1 / math.sqrt(H)  # PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        tensors, constants = [], []

        def formula(name, p, a):
            p.copy_(formula_tensor(name, tuple(p.shape), a))
            tensors.append({"name": name, "shape": list(p.shape), "amplitude": a})

        def constant(p, name, value):
            p.fill_(value)
            constants.append({"name": name, "shape": list(p.shape), "value": value})

        for name, p in params(model).items():
            if name == "Qformer.bert.embeddings.word_embeddings.weight":
                assert p.shape[0] == V and p.shape[1] == H
                formula("dec_row", p[V - 1:], NORMAL_AMPLITUDE)  # the [DEC] row; MiniLM's rows copied above
                continue
            if name in copied:
                continue
            if ".crossattention." in name or name.startswith("Qformer.cls.predictions.transform."):
                if name.endswith("LayerNorm.weight"):
                    constant(p, name, 1)
                elif name.endswith("bias"):
                    constant(p, name, 0)
                else:
                    formula(name, p, NORMAL_AMPLITUDE)
            elif name == "Qformer.cls.predictions.bias":
                constant(p, name, 0)  # MiniLM has no MLM head; [DEC]'s entry included
            elif name == "query_tokens":
                formula(name, p, NORMAL_AMPLITUDE)
            elif name.startswith("ln_graph."):
                constant(p, name, 1 if name.endswith("weight") else 0)
            elif name.startswith(("graph_proj.", "text_proj.", "gtm_head.")):
                assert p.shape[-1] == H or name.endswith("bias")
                formula(name, p, linear_amplitude)
            else:
                raise AssertionError(f"unexpected parameter {name}")
    assert model.Qformer.cls.predictions.decoder.weight is model.Qformer.bert.embeddings.word_embeddings.weight
    spec = {"formula": "splitmix64 over FNV-1a 64 of the name; see gen_qformer.py", "tensors": tensors,
            "constants": constants}
    return model.eval(), spec


def write_new_json(spec, path):
    """minilm_new.json, one tensor per line."""
    def block(key):
        return "[\n" + ",\n".join("  " + json.dumps(e) for e in spec[key]) + "\n]"
    path.write_text("{\"formula\": " + json.dumps(spec["formula"]) + ",\n\"tensors\": " + block("tensors")
                    + ",\n\"constants\": " + block("constants") + "}\n")
    assert json.loads(path.read_text()) == spec


def minilm_files(tiny_gen):
    check_formula()
    tok = BertTokenizer.from_pretrained(str(MINILM))
    model, spec = minilm_stage1()
    write_new_json(spec, OUT / "minilm_new.json")

    # 1. text pass vs transformers' BertModel (token-type row zeroed)
    enc = tok(MINILM_SENTENCES, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"].to(torch.int64), enc["attention_mask"].to(torch.int64)
    bert = HFBertModel.from_pretrained(str(MINILM)).eval()
    with torch.no_grad():
        bert.embeddings.token_type_embeddings.weight.zero_()
        ref = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        ours, _ = model.Qformer.bert(ids, attention_mask=mask)
    err = (ref - ours).abs().max().item()
    assert err < 1e-5, f"MiniLM text pass differs from BertModel by {err}"
    save_file({"text_ids": ids.contiguous(), "text_mask": mask.contiguous(), "last_hidden_state": ref.contiguous(),
               "qformer_text_output": ours.contiguous()}, OUT / "minilm_text.safetensors")

    # 2. one stage-1 batch
    enc = tok(MINILM_M_SENTENCES, padding="max_length", max_length=12, truncation=True, return_tensors="pt")
    g, pad = graph_batch(tiny_gen, [11, 14, 8], 16, 32)
    B = 3
    batch = {"M.graph": g, "M.graph_padding": pad, "M.text_ids": enc["input_ids"].to(torch.int64).contiguous(),
             "M.text_mask": enc["attention_mask"].to(torch.int64).contiguous(),
             "M.neg_graph_idx": (torch.arange(B) + 1) % B, "M.neg_text_idx": (torch.arange(B) + 2) % B}
    r = stage1_forward(model, g, pad.bool(), batch["M.text_ids"], batch["M.text_mask"], batch["M.neg_graph_idx"],
                       batch["M.neg_text_idx"])
    out = dict(batch)
    for k in ("query_output", "text_output", "gtm_logits", "loss_gtc", "loss_gtm", "loss_lm", "loss"):
        out[f"M.{k}"] = r[k].detach().clone().contiguous()
    for k, gr in grads(model, r["loss"], "g").items():
        name = k[2:]
        g64 = gr.double()
        out[f"M.gradsum.{name}"] = torch.stack([g64.sum(), (g64 * g64).sum(), g64.abs().sum()])
        out[f"M.gradhead.{name}"] = gr.flatten()[:64].clone()
    save_file(out, OUT / "minilm_stage1.safetensors")
    return err


def main():
    torch.set_num_threads(1)
    hf_logging.set_verbosity_error()
    OUT.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(20261207)

    torch.manual_seed(0)
    t = TINY
    cfg = qformer_config(t["vocab_size"], t["hidden_size"], t["num_hidden_layers"], t["num_attention_heads"],
                         t["intermediate_size"], t["max_position_embeddings"], t["encoder_width"],
                         t["num_query_tokens"], t["cross_attention_freq"])
    model = Stage1(cfg, t["encoder_width"], t["embed_dim"], t["temperature"], t["dec_token_id"])
    randomise(model, gen)
    (OUT / "tiny_config.json").write_text(json.dumps(TINY, indent=2) + "\n")
    save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()
               if not k.endswith("position_ids")}, OUT / "tiny.safetensors")
    (OUT / "tiny_keys.txt").write_text("\n".join(checkpoint_keys(model)) + "\n")

    batches = make_batches(gen)
    save_file(batches, OUT / "batches.safetensors")
    save_file(expected(model, batches, torch.float32), OUT / "expected_f32.safetensors")
    save_file(expected(model, batches, torch.float64), OUT / "expected_f64.safetensors")

    err = minilm_files(gen)

    with torch.device("meta"):
        paper = Stage1(qformer_config(31091, 768, 12, 12, 3072, 512, 512, 8), 512, 256)
    count = sum(p.numel() for p in paper.parameters() if p.requires_grad)
    assert count == PAPER_COUNT, count
    (OUT / "paper_keys.txt").write_text("\n".join(checkpoint_keys(paper)) + f"\nparameters {count}\n")
    print(f"wrote {OUT}; MiniLM text pass vs BertModel max |diff| {err:.2e}; paper stage-1 {count} parameters")


if __name__ == "__main__":
    main()
