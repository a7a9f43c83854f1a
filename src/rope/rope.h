// RoPE parameters and tables: every rope_scaling method with transformers' semantics
// (spec: shared/reference/rope-methods.md). Host-side, double precision; the only place
// in the tree with RoPE math. Kernels read the tables it produces.
//
// Methods (one function each, below): default, linear (Position Interpolation, Chen et al.
// 2023), dynamic (Dynamic NTK, /u/emozilla 2023), yarn (Peng et al., arXiv:2309.00071),
// longrope (Ding et al., arXiv:2402.13753), llama3 (Meta's Llama 3.1 apply_scaling),
// ntk (static NTK-aware, /u/bloc97 2023; pseudo-type, not a transformers rope_type) and
// ntk_by_parts (YaRN's frequency blend without the attention temperature; pseudo-type).//
// Files: config.h (parse and standardize rope_scaling), methods.h (one function per method),
// state.h (dynamic/longrope state across calls, cos/sin rows); methods_table.h (names, keys
// and kinds every reader of rope_scaling shares). This header includes the three.
#pragma once
#include "rope/config.h"
#include "rope/methods.h"
#include "rope/state.h"
