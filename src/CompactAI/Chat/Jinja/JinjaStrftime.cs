using System.Globalization;
using System.Text;

namespace CompactAI.Chat.Jinja;

/// <summary>Python's <c>datetime.strftime</c> for <c>strftime_now(format)</c>, with English month and day names.</summary>
internal static class JinjaStrftime
{
    /// <summary>Formats <paramref name="now"/> with the C <c>strftime</c> directives Python supports (English names).</summary>
    public static string Format(DateTimeOffset now, string format)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c != '%' || i + 1 >= format.Length)
            {
                sb.Append(c);
                continue;
            }
            char d = format[++i];
            bool noPad = false;
            if (d == '-' && i + 1 < format.Length)
            {
                noPad = true;
                d = format[++i];
            }
            string Pad(int v, int width) => noPad ? v.ToString(inv) : v.ToString(new string('0', width), inv);
            switch (d)
            {
                case 'Y': sb.Append(now.Year.ToString(inv)); break;
                case 'y': sb.Append(Pad(now.Year % 100, 2)); break;
                case 'm': sb.Append(Pad(now.Month, 2)); break;
                case 'd': sb.Append(Pad(now.Day, 2)); break;
                case 'e': sb.Append(now.Day.ToString(inv).PadLeft(2)); break;
                case 'H': sb.Append(Pad(now.Hour, 2)); break;
                case 'I': sb.Append(Pad(now.Hour % 12 == 0 ? 12 : now.Hour % 12, 2)); break;
                case 'M': sb.Append(Pad(now.Minute, 2)); break;
                case 'S': sb.Append(Pad(now.Second, 2)); break;
                case 'p': sb.Append(now.Hour < 12 ? "AM" : "PM"); break;
                case 'j': sb.Append(Pad(now.DayOfYear, 3)); break;
                case 'b': case 'h': sb.Append(inv.DateTimeFormat.GetAbbreviatedMonthName(now.Month)); break;
                case 'B': sb.Append(inv.DateTimeFormat.GetMonthName(now.Month)); break;
                case 'a': sb.Append(inv.DateTimeFormat.GetAbbreviatedDayName(now.DayOfWeek)); break;
                case 'A': sb.Append(inv.DateTimeFormat.GetDayName(now.DayOfWeek)); break;
                case 'w': sb.Append(((int)now.DayOfWeek).ToString(inv)); break;
                case 'z': sb.Append(now.ToString("zzz", inv).Replace(":", "", StringComparison.Ordinal)); break;
                case 'Z': sb.Append(now.Offset == TimeSpan.Zero ? "UTC" : ""); break;
                case 'F': sb.Append(now.ToString("yyyy-MM-dd", inv)); break;
                case 'T': sb.Append(now.ToString("HH:mm:ss", inv)); break;
                case '%': sb.Append('%'); break;
                default: sb.Append('%').Append(d); break;
            }
        }
        return sb.ToString();
    }
}
