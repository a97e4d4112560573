"""A tiny random Llama and a locally trained tokenizer for the offline LLM tests (no download).

Imported by tests/test_llm.py and tests/test_workflow_llm.py; the tiny lm-eval tasks (YAML + local
JSONL) lie in tests/data/llm/.
"""

from __future__ import annotations

import json
from pathlib import Path

TASK_DIR = Path(__file__).resolve().parent / "data" / "llm"
TASKS = ("upnn_tiny_mc4", "upnn_tiny_mc2")


def corpus() -> list[str]:
    """The tasks' own text plus a few sentences: what the tokenizer is trained on."""
    lines = ["Question: Answer: the a an of to in is are on what which how where"]
    for path in sorted(TASK_DIR.glob("*.jsonl")):
        for row in map(json.loads, path.read_text().splitlines()):
            lines += [row["question"], *row["choices"]]
    return lines


def build(dest: Path, seed: int = 0) -> Path:
    """Write a byte-level BPE tokenizer and a 2-layer Llama with random weights into ``dest``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    dest.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>")
    fast.save_pretrained(dest)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=128, bos_token_id=fast.bos_token_id,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
                         tie_word_embeddings=False)
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(dest)
    return dest
