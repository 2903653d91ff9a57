using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.ExceptionServices;

namespace FreeScoutRules.Engine.Tests.Support;

/// <summary>
/// Stands for a storage port (<typeparamref name="T"/>, an interface) in front of the real implementation and counts
/// the calls of each of its methods, so that a test can tell which methods a run called. Thread-safe.
/// </summary>
/// <remarks>A <see cref="DispatchProxy"/>: no hand-written wrapper to keep in step with the interfaces.</remarks>
public class PortRecorder<T> : DispatchProxy
    where T : class
{
    private T _target = null!;
    private ConcurrentDictionary<MethodInfo, int> _calls = null!;

    /// <summary>A <typeparamref name="T"/> that passes every call on to <paramref name="target"/>, counting it in <paramref name="calls"/>.</summary>
    internal static T Wrap(T target, ConcurrentDictionary<MethodInfo, int> calls)
    {
        var proxy = Create<T, PortRecorder<T>>();
        var recorder = (PortRecorder<T>)(object)proxy;
        recorder._target = target;
        recorder._calls = calls;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        _calls.AddOrUpdate(targetMethod, 1, (_, count) => count + 1);
        try
        {
            return targetMethod.Invoke(_target, args);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            ExceptionDispatchInfo.Capture(ex.InnerException).Throw();
            throw;
        }
    }
}
