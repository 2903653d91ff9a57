using System.Globalization;
using System.Text;

namespace FreeScoutRules.FreeScoutStandIn;

/// <summary>
/// Writes JSON the way PHP's <c>json_encode</c> does with FreeScout's flags (none): compact, <c>/</c> escaped as
/// <c>\/</c>, every non-ASCII UTF-16 unit as <c>\uxxxx</c> (lower-case hex), so the output is pure ASCII. Not thread-safe.
/// </summary>
internal sealed class PhpJsonWriter
{
    private readonly StringBuilder _text = new(1024);

    // One entry per open object or array: true while nothing has been written in it yet.
    private readonly Stack<bool> _empty = new();
    private bool _afterName;

    public void StartObject()
    {
        BeforeValue();
        _text.Append('{');
        _empty.Push(true);
    }

    public void EndObject()
    {
        _empty.Pop();
        _text.Append('}');
    }

    public void StartArray()
    {
        BeforeValue();
        _text.Append('[');
        _empty.Push(true);
    }

    public void EndArray()
    {
        _empty.Pop();
        _text.Append(']');
    }

    public void Name(string name)
    {
        Separate();
        WriteQuoted(name);
        _text.Append(':');
        _afterName = true;
    }

    public void String(string? value)
    {
        BeforeValue();
        if (value is null)
        {
            _text.Append("null");
        }
        else
        {
            WriteQuoted(value);
        }
    }

    public void Number(long? value)
    {
        BeforeValue();
        _text.Append(value is { } number ? number.ToString(CultureInfo.InvariantCulture) : "null");
    }

    /// <summary>A date as FreeScout formats it (<c>Y-m-d\TH:i:s\Z</c>, UTC), or null.</summary>
    public void Date(DateTimeOffset? value) =>
        String(value?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));

    public void Property(string name, string? value)
    {
        Name(name);
        String(value);
    }

    public void Property(string name, long? value)
    {
        Name(name);
        Number(value);
    }

    public void DateProperty(string name, DateTimeOffset? value)
    {
        Name(name);
        Date(value);
    }

    /// <summary>The text written so far, as (ASCII, hence UTF-8) bytes.</summary>
    public byte[] ToUtf8() => Encoding.ASCII.GetBytes(_text.ToString());

    public override string ToString() => _text.ToString();

    private void BeforeValue()
    {
        if (_afterName)
        {
            _afterName = false;
            return;
        }

        Separate();
    }

    private void Separate()
    {
        if (_empty.Count == 0)
        {
            return;
        }

        if (_empty.Peek())
        {
            _empty.Pop();
            _empty.Push(false);
        }
        else
        {
            _text.Append(',');
        }
    }

    private void WriteQuoted(string value)
    {
        _text.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': _text.Append("\\\""); break;
                case '\\': _text.Append("\\\\"); break;
                case '/': _text.Append("\\/"); break;
                case '\b': _text.Append("\\b"); break;
                case '\f': _text.Append("\\f"); break;
                case '\n': _text.Append("\\n"); break;
                case '\r': _text.Append("\\r"); break;
                case '\t': _text.Append("\\t"); break;
                case < ' ' or > '\u007f':
                    _text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                default: _text.Append(c); break;
            }
        }

        _text.Append('"');
    }
}
