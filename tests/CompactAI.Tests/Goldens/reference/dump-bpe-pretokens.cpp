// Writes ../bpe-pretokens.json: llama.cpp's pre-token split (unicode_regex_split, exported by libllama) of every
// corpus text of ../bpe-pretokenizers.json under every regex list of patterns.json. The token-id goldens cannot show
// every pre-token boundary (GPT-2's merges never cross its own boundaries, so many different splits give the same ids);
// this shows them directly. Our code: it only calls llama.cpp's unicode_regex_split; see ../README-bpe.md.
//
//   dump-bpe-pretokens <bpe-pretokenizers.json> <patterns.json> > bpe-pretokens.json
//
// patterns.json = {"<pre name>": ["regex", ...], ...}, written by the C# tests (BpeVocabFixture) from CompactAI's
// table; the output repeats each list so that the tests notice when the table changes.

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

// Declared in llama.cpp's src/unicode.h (exported from libllama.so).
std::vector<std::string> unicode_regex_split(const std::string & text, const std::vector<std::string> & regex_exprs, bool byte_encode);

using json = nlohmann::ordered_json;

int main(int argc, char ** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s bpe-pretokenizers.json patterns.json\n", argv[0]);
        return 1;
    }
    json goldens = json::parse(std::ifstream(argv[1]));
    json patterns = json::parse(std::ifstream(argv[2]));

    json out;
    out["generator"] = "llama.cpp unicode_regex_split (libllama from the node-llama-cpp 3.22.1 source bundle, " + goldens["generator"].get<std::string>() + ")";
    out["notes"] = "pre[name].pieces[i] = unicode_regex_split(corpus[i], pre[name].patterns, byte_encode=false); corpus = bpe-pretokenizers.json corpus.";
    json pre = json::object();
    for (auto & [name, list] : patterns.items()) {
        std::vector<std::string> regexes = list.get<std::vector<std::string>>();
        json pieces = json::array();
        for (const auto & text : goldens["corpus"]) {
            pieces.push_back(unicode_regex_split(text.get<std::string>(), regexes, false));
        }
        pre[name] = {{"patterns", list}, {"pieces", pieces}};
    }
    out["pre"] = pre;
    printf("%s\n", out.dump(1, ' ', true).c_str());
    return 0;
}
