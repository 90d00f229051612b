/**
 * Intra-Fusion (Theus et al., ICLR 2024): prune a channel group by fusing
 * its neurons into the kept ones with an optimal-transport map instead of
 * dropping them.
 * @module
 */
export * from "./emd.ts";
export * from "./sinkhorn.ts";
