// The ones-complement sum (csum.cc), for the other C++ files that checksum (segment.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace sy {

// fold(sum of the big-endian 16-bit words of p[0, n)), not complemented (odd n: zero-padded).
uint32_t OnesSum(const uint8_t* p, size_t n);
// Folds a 64-bit sum of 16-bit words to 16 bits (end-around carry).
uint32_t Fold64(uint64_t s);

}  // namespace sy
