"""What makes a training step fill a GPU: shape buckets, bf16 working weights over fp32 masters, a cross-entropy that
never holds every position's logits, batches prepared in the background with no host synchronisation inside the step,
the attention backend per family, and counters that catch regressions on a CPU. Each module holds one of these; the
training step (`xlgen.train`) wires them together."""
