// Feeds bytes to the GGUF parser (metadata, tensor infos, config, vocab), then loads every
// tensor (dtype conversion + q/k un-permutation).
#include <cstddef>
#include <cstdint>

#include "formats/checkpoint.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        auto ck = rb::open_gguf_bytes(data, size, "fuzz.gguf");
        (void)ck->gguf_vocab();
        (void)ck->config().rope_scaling.dump();  // must hold valid UTF-8 (dump throws otherwise)
        for (const auto& t : ck->tensors()) {
            auto v = ck->load_f32(t.name, t.shape);
            if (v.size() > 0 && v[0] == 12345.0f) ck->weight_bytes();
        }
    } catch (const rb::Error&) {
    }
    return 0;
}
