// Reference dump from llama.cpp (c392e509): prompt ids, the last prompt position's f32 logits over the
// whole vocabulary, and N greedy ids (no stop at end-of-generation), as one JSON line.
// Usage: refdump MODEL PROMPT_FILE N_GREEDY [--no-parse-special]
// The prompt is tokenized as llama.cpp does by default: BOS as the model says, special tokens parsed.
#include "llama.h"
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char ** argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s MODEL PROMPT_FILE N_GREEDY [--no-parse-special]\n", argv[0]); return 2; }
    const bool parse_special = !(argc > 4 && strcmp(argv[4], "--no-parse-special") == 0);
    std::ifstream f(argv[2], std::ios::binary);
    std::stringstream ss; ss << f.rdbuf();
    const std::string prompt = ss.str();
    const int n_greedy = atoi(argv[3]);

    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    const llama_vocab * vocab = llama_model_get_vocab(model);
    std::vector<llama_token> ids(prompt.size() + 8);
    int n = llama_tokenize(vocab, prompt.data(), prompt.size(), ids.data(), ids.size(), true, parse_special);
    if (n < 0) { ids.resize(-n); n = llama_tokenize(vocab, prompt.data(), prompt.size(), ids.data(), ids.size(), true, parse_special); }
    ids.resize(n);

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n + n_greedy + 8;
    cp.n_batch = cp.n_ctx;
    cp.n_threads = 2;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    llama_context * ctx = llama_init_from_model(model, cp);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    printf("{\"prompt_ids\":[");
    for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
    printf("]");
    if (n == 0) { printf("}\n"); return 0; }
    if (llama_decode(ctx, llama_batch_get_one(ids.data(), n))) { fprintf(stderr, "decode failed\n"); return 1; }
    const float * logits = llama_get_logits_ith(ctx, -1);
    printf(",\"logits\":[");
    for (int i = 0; i < n_vocab; i++) printf(i ? ",%.9g" : "%.9g", logits[i]);
    printf("],\"greedy_ids\":[");
    for (int t = 0; t < n_greedy; t++) {
        const float * l = llama_get_logits_ith(ctx, -1);
        llama_token best = 0;
        for (int i = 1; i < n_vocab; i++) if (l[i] > l[best]) best = i;
        printf(t ? ",%d" : "%d", best);
        if (llama_decode(ctx, llama_batch_get_one(&best, 1))) { fprintf(stderr, "decode failed\n"); return 1; }
    }
    printf("]}\n");
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
