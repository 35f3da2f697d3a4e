using System.Globalization;

namespace CompactAI.Tokenization.PreTokenizers;

/// <summary>
/// The Unicode properties llama.cpp's pre-tokenizers test (its <c>unicode_cpt_flags</c>): one general-category group
/// per code point plus the White_Space property. <see cref="None"/> (no bit set) stands for "outside the text".
/// </summary>
[Flags]
internal enum CodepointFlags : ushort
{
    /// <summary>Outside the piece being split.</summary>
    None = 0,
    /// <summary>Unassigned (Cn).</summary>
    Undefined = 0x0001,
    /// <summary><c>\p{N}</c>: Nd, Nl, No.</summary>
    Number = 0x0002,
    /// <summary><c>\p{L}</c>: Lu, Ll, Lt, Lm, Lo.</summary>
    Letter = 0x0004,
    /// <summary><c>\p{Z}</c>: Zs, Zl, Zp.</summary>
    Separator = 0x0008,
    /// <summary><c>\p{M}</c>: Mn, Mc, Me.</summary>
    Mark = 0x0010,
    /// <summary><c>\p{P}</c>: Pc, Pd, Ps, Pe, Pi, Pf, Po.</summary>
    Punctuation = 0x0020,
    /// <summary><c>\p{S}</c>: Sm, Sc, Sk, So.</summary>
    Symbol = 0x0040,
    /// <summary><c>\p{C}</c> other than Cn: Cc, Cf, Cs, Co.</summary>
    Control = 0x0080,
    /// <summary>The category bits.</summary>
    Categories = 0x00FF,
    /// <summary>Unicode White_Space (<c>\s</c>): U+0009–000D, U+0020, U+0085, U+00A0, U+1680, U+2000–200A, U+2028, U+2029, U+202F, U+205F, U+3000.</summary>
    Whitespace = 0x0100,
}

/// <summary>Computes <see cref="CodepointFlags"/> from .NET's Unicode tables.</summary>
internal static class Codepoints
{
    private static readonly CodepointFlags[] Ascii = BuildAscii();

    /// <summary>
    /// Code points that .NET's Unicode 16 tables assign but llama.cpp's tables (<c>unicode-data.cpp</c>, Unicode 15.1)
    /// leave unassigned; llama.cpp treats them as unassigned (Cn), so we do too. Found by comparing both tables over
    /// every code point: these ranges are the only differences.
    /// </summary>
    private static readonly (int First, int Last)[] UnassignedInLlamaCpp =
    [
        (0x897, 0x897), (0x1B4E, 0x1B4F), (0x1B7F, 0x1B7F), (0x1C89, 0x1C8A), (0x2427, 0x2429), (0x31E4, 0x31E5),
        (0xA7CB, 0xA7CD), (0xA7DA, 0xA7DC), (0x105C0, 0x105F3), (0x10D40, 0x10D65), (0x10D69, 0x10D85), (0x10D8E, 0x10D8F),
        (0x10EC2, 0x10EC4), (0x10EFC, 0x10EFC), (0x11380, 0x11389), (0x1138B, 0x1138B), (0x1138E, 0x1138E), (0x11390, 0x113B5),
        (0x113B7, 0x113C0), (0x113C2, 0x113C2), (0x113C5, 0x113C5), (0x113C7, 0x113CA), (0x113CC, 0x113D5), (0x113D7, 0x113D8),
        (0x113E1, 0x113E2), (0x116D0, 0x116E3), (0x11BC0, 0x11BE1), (0x11BF0, 0x11BF9), (0x11F5A, 0x11F5A), (0x13460, 0x143FA),
        (0x16100, 0x16139), (0x16D40, 0x16D79), (0x18CFF, 0x18CFF), (0x1CC00, 0x1CCF9), (0x1CD00, 0x1CEB3), (0x1E5D0, 0x1E5FA),
        (0x1E5FF, 0x1E5FF), (0x1F8B2, 0x1F8BB), (0x1F8C0, 0x1F8C1), (0x1FA89, 0x1FA89), (0x1FA8F, 0x1FA8F), (0x1FABE, 0x1FABE),
        (0x1FAC6, 0x1FAC6), (0x1FADC, 0x1FADC), (0x1FADF, 0x1FADF), (0x1FAE9, 0x1FAE9), (0x1FBCB, 0x1FBEF),
    ];

    /// <summary>The flags of code point <paramref name="cp"/> (a valid scalar value).</summary>
    public static CodepointFlags Flags(int cp)
    {
        if (cp < 128) return Ascii[cp];
        var category = cp > 0x10FFFF || IsUnassignedInLlamaCpp(cp) ? UnicodeCategory.OtherNotAssigned : CharUnicodeInfo.GetUnicodeCategory(cp);
        var flags = category switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CodepointFlags.Letter,
            UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => CodepointFlags.Mark,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CodepointFlags.Number,
            UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => CodepointFlags.Separator,
            UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => CodepointFlags.Punctuation,
            UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
                or UnicodeCategory.OtherSymbol => CodepointFlags.Symbol,
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse => CodepointFlags.Control,
            _ => CodepointFlags.Undefined,
        };
        // char.IsWhiteSpace is exactly Unicode White_Space; every such code point is in the BMP.
        if (cp <= 0xFFFF && char.IsWhiteSpace((char)cp)) flags |= CodepointFlags.Whitespace;
        return flags;
    }

    private static bool IsUnassignedInLlamaCpp(int cp)
    {
        if (cp < UnassignedInLlamaCpp[0].First) return false;
        int lo = 0, hi = UnassignedInLlamaCpp.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (cp < UnassignedInLlamaCpp[mid].First) hi = mid - 1;
            else if (cp > UnassignedInLlamaCpp[mid].Last) lo = mid + 1;
            else return true;
        }
        return false;
    }

    private static CodepointFlags[] BuildAscii()
    {
        var table = new CodepointFlags[128];
        for (int c = 0; c < 128; c++)
        {
            var flags = CharUnicodeInfo.GetUnicodeCategory(c) switch
            {
                UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter => CodepointFlags.Letter,
                UnicodeCategory.DecimalDigitNumber => CodepointFlags.Number,
                UnicodeCategory.SpaceSeparator => CodepointFlags.Separator,
                UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol => CodepointFlags.Symbol,
                UnicodeCategory.Control => CodepointFlags.Control,
                _ => CodepointFlags.Punctuation,
            };
            if (char.IsWhiteSpace((char)c)) flags |= CodepointFlags.Whitespace;
            table[c] = flags;
        }
        return table;
    }
}
