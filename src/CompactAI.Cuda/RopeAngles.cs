namespace CompactAI.Cuda;

/// <summary>
/// The cos/sin table of rotary embeddings for positions 0 … count − 1, built exactly as the CPU engine's RopeTable.Prepare does
/// (θ by repeated multiplication, ÷ the optional per-pair frequency factors), so the device rotates by bit-identical angles.
/// </summary>
internal static class RopeAngles
{
    /// <summary>cos and sin, each [count × ropeDims/2].</summary>
    public static (float[] Cos, float[] Sin) Build(int ropeDims, float freqBase, float positionScale, float[]? factors, int count)
    {
        int half = ropeDims / 2;
        float thetaScale = MathF.Pow(freqBase, -2.0f / ropeDims);
        var cos = new float[count * half];
        var sin = new float[count * half];
        for (int p = 0; p < count; p++)
        {
            float theta = p * positionScale;
            for (int i = 0; i < half; i++)
            {
                float t = factors is null ? theta : theta / factors[i];
                cos[p * half + i] = MathF.Cos(t);
                sin[p * half + i] = MathF.Sin(t);
                theta *= thetaScale;
            }
        }
        return (cos, sin);
    }
}
