"""The LAVIS Q-Former and 3D-MoLM's stage-1 forward in plain PyTorch, shared by tests/golden/gen_qformer.py (golden
data) and benchmarks/peers/qformer_torch.py (benchmark peer). Imports torch only (no lavis, transformers or
safetensors), so the peer runs with PyPI torch alone.

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
      model/blip2qformer.py Blip2Qformer.__init__ (attribute order = state-dict order), forward (the 3D one),
      contrast_global; model/dist_funs.py pl_concat_all_gather (@torch.no_grad: gathered features carry no
      gradient)

Written out instead of transformers 4.35.2 (BertPreTrainedModel below): PreTrainedModel's `dtype` (the first
floating-point parameter's), ModuleUtilsMixin.invert_attention_mask ((1 - m) * finfo(dtype).min),
get_head_mask (None only), init_weights (_init_weights once per module, then tie_weights: the decoder shares
the word embeddings); BertConfig by `Config`/`qformer_config` (its defaults: dropout 0.1, initializer_range
0.02); ACT2FN["gelu"] by torch's exact erf GELU (F.gelu).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class Config:
    """Attribute bag standing in for transformers' BertConfig."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


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
        assert config.hidden_act == "gelu"
        self.intermediate_act_fn = F.gelu  # ACT2FN["gelu"]: the exact erf GELU

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
        assert config.hidden_act == "gelu"
        self.transform_act_fn = F.gelu  # ACT2FN["gelu"]
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


class BertPreTrainedModel(nn.Module):
    """LAVIS' BertPreTrainedModel with what it uses of transformers' PreTrainedModel / ModuleUtilsMixin (4.35)."""

    def __init__(self, config):
        super().__init__()
        self.config = config

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()

    def init_weights(self):
        """PreTrainedModel.init_weights: _init_weights on every module not initialised yet, then tie_weights()."""
        def initialise(module):
            if not getattr(module, "_is_hf_initialized", False):
                self._init_weights(module)
                module._is_hf_initialized = True
        self.apply(initialise)
        self.tie_weights()

    def tie_weights(self):  # PreTrainedModel: nothing to tie without output embeddings
        pass

    @property
    def dtype(self):  # get_parameter_dtype: the first floating-point parameter's dtype
        return next(p.dtype for p in self.parameters() if p.is_floating_point())

    def invert_attention_mask(self, encoder_attention_mask):
        if encoder_attention_mask.dim() == 3:
            ext = encoder_attention_mask[:, None, :, :]
        if encoder_attention_mask.dim() == 2:
            ext = encoder_attention_mask[:, None, None, :]
        ext = ext.to(dtype=self.dtype)
        return (1.0 - ext) * torch.finfo(self.dtype).min

    def get_head_mask(self, head_mask, num_hidden_layers):
        assert head_mask is None
        return [None] * num_hidden_layers


class BertModel(BertPreTrainedModel):
    def __init__(self, config, add_pooling_layer=False):
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = None  # add_pooling_layer=False in BertLMHeadModel
        self.init_weights()

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
    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.init_weights()  # _init_weights on every module, then tie_weights(): decoder.weight = word_embeddings

    def tie_weights(self):  # _tie_or_clone_weights(get_output_embeddings(), get_input_embeddings())
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

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
    """init_Qformer's BertConfig (the fields the model reads; BertConfig's defaults for the dropouts)."""
    cfg = Config(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                 intermediate_size=ffn, hidden_act="gelu", max_position_embeddings=positions,
                 layer_norm_eps=1e-12, pad_token_id=0, initializer_range=0.02, hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1)
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


def randomise(model, gen, draw_dtype=torch.float64):
    """Every parameter away from its default, so no term hides behind 0 or 1: draws from `gen` in draw_dtype,
    rounded to the parameter's f32 (gen_qformer.py draws in f64, the benchmark peer in f32)."""
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied aliases (cls.predictions.decoder.*) listed once
            shape = p.shape
            if name.endswith("LayerNorm.weight") or name == "ln_graph.weight":
                v = 1 + 0.2 * torch.randn(shape, generator=gen, dtype=draw_dtype)
            elif name.endswith("bias"):  # Linear and LayerNorm biases, cls.predictions.bias
                v = 0.1 * torch.randn(shape, generator=gen, dtype=draw_dtype)
            elif name in ("query_tokens", "Qformer.bert.embeddings.word_embeddings.weight"):
                v = torch.randn(shape, generator=gen, dtype=draw_dtype)
            elif name == "Qformer.bert.embeddings.position_embeddings.weight":
                v = 0.5 * torch.randn(shape, generator=gen, dtype=draw_dtype)
            else:  # Linear weights [out, in]
                v = torch.randn(shape, generator=gen, dtype=draw_dtype) / math.sqrt(shape[-1])
            p.copy_(v.to(torch.float32))
