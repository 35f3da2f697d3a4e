/*
 * Activation quantizers, byte-identical to ggml's reference quantizers and to the managed Q8_0/Q8_1/Q8_K formats.
 * Kept scalar: they touch each activation once per matmul, and exactness matters more than speed here.
 * Conversions mirror .NET's semantics: float → int conversions saturate (never undefined behaviour).
 */
#include "cai_internal.h"

/* roundf(v) saturated to int8, as C#'s (sbyte)MathF.Round(v, MidpointRounding.AwayFromZero) on .NET 9+. */
static inline int8_t round_away_i8(float v)
{
    float r = roundf(v);
    if (!(r > -128.0f)) return r != r ? 0 : -128; /* NaN saturates to 0 */
    if (r > 127.0f) return 127;
    return (int8_t)r;
}

/* max |x| over one block of 32 (NaNs ignored). */
static inline float block_amax(const float* x)
{
    float amax = 0;
    for (int j = 0; j < QK; j++) {
        float ax = fabsf(x[j]);
        if (ax > amax) amax = ax;
    }
    return amax;
}

void cai_quantize_row_q8_0(const float* x, void* y, int n)
{
    uint8_t* out = y;
    for (int b = 0; b < n / QK; b++, x += QK, out += Q8_0_BYTES) {
        float d = block_amax(x) / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        uint16_t h = cai_f32_to_f16(d);
        memcpy(out, &h, 2);
        for (int j = 0; j < QK; j++) out[2 + j] = (uint8_t)round_away_i8(x[j] * id);
    }
}

void cai_quantize_row_q8_1(const float* x, void* y, int n)
{
    uint8_t* out = y;
    for (int b = 0; b < n / QK; b++, x += QK, out += Q8_1_BYTES) {
        float d = block_amax(x) / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        uint16_t h = cai_f32_to_f16(d);
        memcpy(out, &h, 2);
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            int8_t q = round_away_i8(x[j] * id);
            out[4 + j] = (uint8_t)q;
            sum += q;
        }
        h = cai_f32_to_f16((float)sum * d);
        memcpy(out + 2, &h, 2);
    }
}

void cai_quantize_row_q8_k(const float* x, void* y, int n)
{
    uint8_t* out = y;
    for (int b = 0; b < n / QK_K; b++, x += QK_K, out += Q8_K_BYTES) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0) {
            memset(out, 0, Q8_K_BYTES);
            continue;
        }
        float iscale = -127.0f / max;
        int8_t* q = (int8_t*)(out + Q8_K_QS);
        for (int j = 0; j < QK_K; j++) {
            /* round half to even (the default rounding mode), then min(127, ·); |iscale·x| ≤ 127 so no other clamp bites. */
            float r = nearbyintf(iscale * x[j]);
            int v = r > 127.0f ? 127 : r < -128.0f ? -128 : (int)r;
            q[j] = (int8_t)v;
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += q[16 * g + i];
            int16_t s = (int16_t)sum;
            memcpy(out + Q8_K_BSUMS + 2 * g, &s, 2);
        }
        float d = 1 / iscale;
        memcpy(out, &d, 4);
    }
}
