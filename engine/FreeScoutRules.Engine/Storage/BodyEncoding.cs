using System.Buffers;
using System.IO.Compression;

namespace FreeScoutRules.Engine.Storage;

/// <summary>
/// How a delivery's raw bytes are kept in <c>delivery_bodies</c>, by every store that keeps them (SQLite, PostgreSQL):
/// compressed with raw DEFLATE (RFC 1951, zlib's fastest level), marked <c>encoding = 'deflate'</c>; rows SQLite stored
/// before its schema version 8 have no encoding and hold the bytes as received. Readers get the bytes as received either way.
/// A 7 KB FreeScout payload becomes about 1.8 KB: a quarter of the pages written, for about 8 µs of CPU
/// on the request's thread (Brotli at quality 0 saves 230 bytes more for 11 µs; docs/benchmarks.md §9).
/// </summary>
internal static class BodyEncoding
{
    /// <summary>The <c>encoding</c> of a compressed body.</summary>
    public const string Deflate = "deflate";

    public static byte[] Compress(ReadOnlySpan<byte> raw)
    {
        // Into a pooled buffer that fits even bytes that do not compress, then copied out at its exact size.
        // zlib-ng's fastest level writes fixed-Huffman blocks only, where a byte of 144 or more takes 9 bits:
        // up to an eighth more than the input (UTF-8 text of other scripts comes close), plus block framing.
        var buffer = ArrayPool<byte>.Shared.Rent(raw.Length + (raw.Length / 4) + 1024);
        try
        {
            using var compressed = new MemoryStream(buffer, 0, buffer.Length, writable: true, publiclyVisible: true);
            using (var deflate = new DeflateStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
            {
                deflate.Write(raw);
            }

            return buffer.AsSpan(0, (int)compressed.Position).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The bytes as received from a stored body and its <paramref name="encoding"/>.</summary>
    /// <exception cref="InvalidDataException">The encoding is unknown, or the stored bytes do not decode.</exception>
    public static byte[] Decode(byte[] stored, string? encoding)
    {
        ArgumentNullException.ThrowIfNull(stored);
        switch (encoding)
        {
            case null:
                return stored;
            case Deflate:
                using (var deflate = new DeflateStream(new MemoryStream(stored, writable: false), CompressionMode.Decompress))
                using (var raw = new MemoryStream(stored.Length * 5))
                {
                    deflate.CopyTo(raw);
                    return raw.ToArray();
                }

            default:
                throw new InvalidDataException($"A stored body has the encoding '{encoding}', which this FreeScoutRules does not know. Use a newer release.");
        }
    }
}
