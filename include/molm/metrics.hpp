// Every evaluation metric in one include: BLEU, ROUGE, METEOR (with WordNet and the Porter
// stemmer), 3D-MoLM's caption, retrieval and computed-property QA numbers, each equal to the
// Python tool the reference used (NLTK 3.8.1, rouge-score 0.1.2, torch, its own scripts), number
// for number.
#pragma once

#include "molm/metrics/python_str.hpp"
#include "molm/metrics/bleu.hpp"
#include "molm/metrics/rouge.hpp"
#include "molm/metrics/porter.hpp"
#include "molm/metrics/wordnet.hpp"
#include "molm/metrics/meteor.hpp"
#include "molm/metrics/caption.hpp"
#include "molm/metrics/retrieval.hpp"
#include "molm/metrics/property_qa.hpp"
