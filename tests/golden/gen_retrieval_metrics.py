#!/usr/bin/env python3
"""Golden values for include/molm/metrics/retrieval.hpp: 3D-MoLM's stage-1 retrieval numbers
(model/blip2_stage1.py: eval_retrieval_inbatch_with_rerank, eval_retrieval_fullset,
eval_retrieval_fullset_for_rerank; reference-model.md §7.1), transcribed with torch 2.1.2, the
model calls replaced by score matrices.

The matrices are not stored: both sides build them from integer formulas (exact in double),
  sim[m][t] = ((m*7919 + t*104729 + 13) % 100003) / 100003 + bonus·[m == t]
  g[m][t]   = ((m*31337 + t*2713 + 7) % 65537) / 65537 · 0.8 + 0.25·[m == t]
for N = 150 and N = 2000 (the PubChem test set's size) and two bonuses. Sorting is stable
(argsort(stable=True)) so ties, were there any, have one answer.

  python3 tests/golden/gen_retrieval_metrics.py
"""
import json
import pathlib

import torch

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests/golden/data/retrieval_metrics"


def matrices(n, bonus):
    m = torch.arange(n, dtype=torch.int64).reshape(-1, 1)
    t = torch.arange(n, dtype=torch.int64).reshape(1, -1)
    eye = torch.eye(n, dtype=torch.float64)
    sim = ((m * 7919 + t * 104729 + 13) % 100003).double() / 100003 + bonus * eye
    g = ((m * 31337 + t * 2713 + 7) % 65537).double() / 65537 * 0.8 + 0.25 * eye
    return sim, g


def argsort_desc(x):
    return torch.argsort(x, dim=-1, descending=True, stable=True)


def inbatch(sim_all, g_all, batch=64):
    acc = {k: 0.0 for k in ("g2t_acc", "t2g_acc", "g2t_rec20", "t2g_rec20",
                            "g2t_rerank_acc", "t2g_rerank_acc", "g2t_rerank_rec20", "t2g_rerank_rec20")}
    allcnt = 0
    n = sim_all.shape[0]
    for i in range(0, n, batch):
        sim_g2t = sim_all[i:i + batch, i:i + batch]
        gtm_sim = g_all[i:i + batch, i:i + batch]
        B = sim_g2t.shape[0]
        sorted_ids = argsort_desc(sim_g2t)
        g2t_rank = (sorted_ids == torch.arange(B).reshape(-1, 1)).int().argmax(dim=-1)
        sorted_ids = argsort_desc(sim_g2t.T)
        t2g_rank = (sorted_ids == torch.arange(B).reshape(-1, 1)).int().argmax(dim=-1)
        acc["g2t_acc"] += float((g2t_rank == 0).sum())
        acc["t2g_acc"] += float((t2g_rank == 0).sum())
        acc["g2t_rec20"] += float((g2t_rank < 20).sum())
        acc["t2g_rec20"] += float((t2g_rank < 20).sum())
        allcnt += B
        rerank_sim = sim_g2t + gtm_sim
        sorted_ids = argsort_desc(rerank_sim)
        hit = (sorted_ids == torch.arange(B).reshape(-1, 1)).float()
        acc["g2t_rerank_acc"] += float(hit[:, 0].sum())
        acc["g2t_rerank_rec20"] += float(hit[:, :20].sum())
        sorted_ids = argsort_desc(rerank_sim.T)
        hit = (sorted_ids == torch.arange(B).reshape(-1, 1)).float()
        acc["t2g_rerank_acc"] += float(hit[:, 0].sum())
        acc["t2g_rerank_rec20"] += float(hit[:, :20].sum())
    r = {k: round(v / allcnt * 100, 2) for k, v in acc.items()}
    return ({"m2t_acc": r["g2t_acc"], "m2t_r20": r["g2t_rec20"], "t2m_acc": r["t2g_acc"], "t2m_r20": r["t2g_rec20"]},
            {"m2t_acc": r["g2t_rerank_acc"], "m2t_r20": r["g2t_rerank_rec20"],
             "t2m_acc": r["t2g_rerank_acc"], "t2m_r20": r["t2g_rerank_rec20"]})


def fullset(sim_g2t):
    N = sim_g2t.shape[0]
    rank_g2t = (argsort_desc(sim_g2t) == torch.arange(N).reshape(-1, 1)).int().argmax(dim=-1)
    rank_t2g = (argsort_desc(sim_g2t.T) == torch.arange(N).reshape(-1, 1)).int().argmax(dim=-1)
    f = lambda x: round(float(x.float().mean()) * 100, 2)
    return {"m2t_acc": f(rank_g2t == 0), "m2t_r20": f(rank_g2t < 20), "t2m_acc": f(rank_t2g == 0),
            "t2m_r20": f(rank_t2g < 20)}


def fullset_rerank(sim_g2t_total, g, rcn=64):
    N = sim_g2t_total.shape[0]
    hits = []
    for sim_total, gm in ((sim_g2t_total, g), (sim_g2t_total.T, g.T)):
        hit = []
        for i in range(0, N, 4):
            sim = sim_total[i:i + 4]
            rB = sim.shape[0]
            topk_sim, topk_idx = sim.topk(k=rcn, dim=1)
            gtm_sim = torch.gather(gm[i:i + 4], 1, topk_idx)
            sorted_ids = argsort_desc(topk_sim + gtm_sim)
            sorted_ids = torch.gather(topk_idx, 1, sorted_ids)
            hit.append((sorted_ids == torch.arange(i, i + rB).reshape(-1, 1)).int())
        hits.append(torch.cat(hit, dim=0))
    acc = lambda h: round(float(h[:, 0].float().mean()) * 100, 2)
    rec = lambda h: round(float(h[:, :20].float().sum() / N) * 100, 2)
    return {"m2t_acc": acc(hits[0]), "m2t_r20": rec(hits[0]), "t2m_acc": acc(hits[1]), "t2m_r20": rec(hits[1])}


def main():
    cases = []
    for n in (150, 2000):
        for bonus in (0.35, 0.8):
            sim, g = matrices(n, bonus)
            plain, rerank = inbatch(sim, g)
            cases.append({"n": n, "bonus": bonus, "inbatch": plain, "inbatch_rerank": rerank,
                          "full": fullset(sim), "full_rerank": fullset_rerank(sim, g)})
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "retrieval.json").write_text(json.dumps({"generator": "tests/golden/gen_retrieval_metrics.py",
                                                    "torch": torch.__version__, "cases": cases}, indent=1) + "\n")
    print(json.dumps(cases, indent=1))


if __name__ == "__main__":
    main()
