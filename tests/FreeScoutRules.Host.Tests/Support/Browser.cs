using System.Diagnostics;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace FreeScoutRules.Host.Tests.Support;

/// <summary>
/// Headless Chromium from Debian's packages (chromium, chromium-driver), driven through Selenium. The browser a
/// tool downloads by itself cannot be fetched here, so the packages are installed on first use when they are
/// missing (apt-get, as root; CI on a fresh machine does the same). Screenshots go to the test output's
/// screenshots/ folder; docs/console/ holds the current ones.
/// </summary>
internal sealed class Browser : IDisposable
{
    private const string ChromiumPath = "/usr/bin/chromium";
    private const string DriverPath = "/usr/bin/chromedriver";
    private static readonly Lazy<string?> Installed = new(Install);

    private Browser(ChromeDriver driver) => Driver = driver;

    public ChromeDriver Driver { get; }

    public static string ScreenshotsDirectory => Path.Combine(AppContext.BaseDirectory, "screenshots");

    /// <summary>A new headless browser at 1280×900 (a laptop screen).</summary>
    public static Browser Start()
    {
        if (Installed.Value is { } problem)
        {
            throw new InvalidOperationException(problem);
        }

        var options = new ChromeOptions { BinaryLocation = ChromiumPath };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", "--disable-gpu", "--lang=en-US");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(DriverPath), Path.GetFileName(DriverPath));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        return new Browser(new ChromeDriver(service, options, TimeSpan.FromSeconds(60)));
    }

    public void GoTo(Uri address) => Driver.Navigate().GoToUrl(address);

    public IWebElement Find(string css) => Driver.FindElement(By.CssSelector(css));

    public IReadOnlyCollection<IWebElement> FindAll(string css) => Driver.FindElements(By.CssSelector(css));

    public string Text => Driver.FindElement(By.TagName("body")).Text;

    public Uri Url => new(Driver.Url);

    /// <summary>Waits (up to 10 s) until <paramref name="condition"/> holds, as after a click that loads a page.</summary>
    public void WaitUntil(string what, Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!Try(condition))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Waited 10 s for {what}; the browser is at {Driver.Url}");
            }

            Thread.Sleep(50);
        }

        static bool Try(Func<bool> condition)
        {
            try
            {
                return condition();
            }
            catch (WebDriverException)
            {
                return false; // the page is changing under the check
            }
        }
    }

    /// <summary>Saves what the browser shows as screenshots/NAME.png.</summary>
    public void Screenshot(string name)
    {
        Directory.CreateDirectory(ScreenshotsDirectory);
        Driver.GetScreenshot().SaveAsFile(Path.Combine(ScreenshotsDirectory, name + ".png"));
    }

    public void Dispose() => Driver.Quit();

    /// <summary>Installs Debian's chromium and chromium-driver when they are missing; returns why not when it cannot.</summary>
    private static string? Install()
    {
        if (File.Exists(ChromiumPath) && File.Exists(DriverPath))
        {
            return null;
        }

        foreach (var arguments in new[] { "install -y -qq chromium chromium-driver", "update -qq", "install -y -qq chromium chromium-driver" })
        {
            var apt = Process.Start(new ProcessStartInfo("apt-get", arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            apt.StandardOutput.ReadToEnd();
            var error = apt.StandardError.ReadToEnd();
            apt.WaitForExit();
            if (File.Exists(ChromiumPath) && File.Exists(DriverPath))
            {
                return null;
            }

            if (arguments.StartsWith("install", StringComparison.Ordinal) && apt.ExitCode != 0 && error.Contains("Permission denied", StringComparison.Ordinal))
            {
                return $"The browser tests need Debian's chromium and chromium-driver; installing them needs root: sudo apt-get install chromium chromium-driver ({error.Trim()})";
            }
        }

        return "The browser tests need Debian's chromium and chromium-driver, and apt-get could not install them.";
    }
}
